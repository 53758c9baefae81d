// TensorProto ⇄ ir::NamedTensor, in both encodings (raw_data and the typed fields, mapped per
// dtype as onnx.proto specifies).
#include <cstring>
#include <memory>
#include <vector>

#include "external_data.h"
#include "mcompress/support/error.h"
#include "proto.h"

namespace mcompress::onnxio {
namespace {

enum class TypedField { none, float_data, int32_data, int64_data, double_data, uint64_data, string_data };

// Which typed field carries each dtype (onnx.proto's table); complex types use pairs.
TypedField typed_field(DType d) {
  switch (d) {
    case DType::f32:
    case DType::c64: return TypedField::float_data;
    case DType::i32:
    case DType::i16:
    case DType::i8:
    case DType::u16:
    case DType::u8:
    case DType::boolean:
    case DType::f16:
    case DType::bf16:
    case DType::f8e4m3fn:
    case DType::f8e4m3fnuz:
    case DType::f8e5m2:
    case DType::f8e5m2fnuz:
    case DType::u4:
    case DType::i4:
    case DType::f4e2m1: return TypedField::int32_data;
    case DType::i64: return TypedField::int64_data;
    case DType::f64:
    case DType::c128: return TypedField::double_data;
    case DType::u32:
    case DType::u64: return TypedField::uint64_data;
    case DType::string: return TypedField::string_data;
    default: return TypedField::none;
  }
}

// Bytes each int32_data entry stands for: 4-bit types pack two elements in one entry's byte.
int int32_entry_bytes(DType d) {
  int bits = dtype_info(d).bits;
  return bits <= 8 ? 1 : bits / 8;
}

int typed_count(const onnx::TensorProto& p) {
  return p.float_data_size() + p.int32_data_size() + p.int64_data_size() + p.double_data_size() +
         p.uint64_data_size();
}

int64_t typed_entry_bytes(DType d) {
  switch (typed_field(d)) {
    case TypedField::float_data: return 4;
    case TypedField::int64_data:
    case TypedField::double_data: return 8;
    case TypedField::uint64_data: return dtype_info(d).bits / 8;
    case TypedField::int32_data: return int32_entry_bytes(d);
    default: return 0;
  }
}

std::string bytes_from_typed(const onnx::TensorProto& p, DType d, int64_t expected_bytes, const std::string& what) {
  // Counts are checked before anything is allocated: a tiny file must not claim gigabytes.
  int64_t per_entry = typed_entry_bytes(d);
  if (per_entry == 0) throw_unsupported("{}: {} data in typed fields is not supported", what, dtype_name(d));
  int64_t count = typed_count(p);
  if (count * per_entry != expected_bytes)
    throw_bad_input("{}: has {} typed values for {} bytes of {} data", what, count, expected_bytes, dtype_name(d));
  std::string out(static_cast<size_t>(expected_bytes), '\0');
  if (expected_bytes == 0) return out;  // empty repeated fields have no data pointer to copy from
  char* dst = out.data();
  auto check_count = [&](int64_t field_count, int64_t width) {
    if (field_count * width != expected_bytes)
      throw_bad_input("{}: typed values of {} data are in the wrong field", what, dtype_name(d));
  };
  switch (typed_field(d)) {
    case TypedField::float_data:
      check_count(p.float_data_size(), 4);
      std::memcpy(dst, p.float_data().data(), out.size());
      break;
    case TypedField::int64_data:
      check_count(p.int64_data_size(), 8);
      std::memcpy(dst, p.int64_data().data(), out.size());
      break;
    case TypedField::double_data:
      check_count(p.double_data_size(), 8);
      std::memcpy(dst, p.double_data().data(), out.size());
      break;
    case TypedField::uint64_data: {
      int width = dtype_info(d).bits / 8;
      check_count(p.uint64_data_size(), width);
      for (int k = 0; k < p.uint64_data_size(); ++k) {
        uint64_t v = p.uint64_data(k);
        std::memcpy(dst + static_cast<int64_t>(k) * width, &v, static_cast<size_t>(width));
      }
      break;
    }
    case TypedField::int32_data: {
      int width = int32_entry_bytes(d);
      check_count(p.int32_data_size(), width);
      for (int k = 0; k < p.int32_data_size(); ++k) {
        int32_t v = p.int32_data(k);
        std::memcpy(dst + static_cast<int64_t>(k) * width, &v, static_cast<size_t>(width));
      }
      break;
    }
    default: throw_unsupported("{}: {} data in typed fields is not supported", what, dtype_name(d));
  }
  return out;
}

void typed_from_bytes(const Tensor& t, onnx::TensorProto& p) {
  const std::string& b = t.storage();
  int64_t n = static_cast<int64_t>(b.size());
  if (n == 0) return;
  switch (typed_field(t.dtype())) {
    case TypedField::float_data:
      p.mutable_float_data()->Resize(static_cast<int>(n / 4), 0.f);
      std::memcpy(p.mutable_float_data()->mutable_data(), b.data(), b.size());
      break;
    case TypedField::int64_data:
      p.mutable_int64_data()->Resize(static_cast<int>(n / 8), 0);
      std::memcpy(p.mutable_int64_data()->mutable_data(), b.data(), b.size());
      break;
    case TypedField::double_data:
      p.mutable_double_data()->Resize(static_cast<int>(n / 8), 0.0);
      std::memcpy(p.mutable_double_data()->mutable_data(), b.data(), b.size());
      break;
    case TypedField::uint64_data: {
      int width = dtype_info(t.dtype()).bits / 8;
      for (int64_t k = 0; k < n / width; ++k) {
        uint64_t v = 0;
        std::memcpy(&v, b.data() + k * width, static_cast<size_t>(width));
        p.add_uint64_data(v);
      }
      break;
    }
    case TypedField::int32_data: {
      int width = int32_entry_bytes(t.dtype());
      for (int64_t k = 0; k < n / width; ++k) {
        int32_t v = 0;
        if (width == 1) {
          // Signed 8-bit and 4-bit types are sign-extended as onnx.helper writes them.
          bool is_signed = t.dtype() == DType::i8;
          v = is_signed ? static_cast<int8_t>(b[static_cast<size_t>(k)]) : static_cast<uint8_t>(b[static_cast<size_t>(k)]);
        } else {
          uint16_t u = 0;
          std::memcpy(&u, b.data() + k * 2, 2);
          v = t.dtype() == DType::i16 ? static_cast<int16_t>(u) : static_cast<int32_t>(u);
        }
        p.add_int32_data(v);
      }
      break;
    }
    default: break;
  }
}

}  // namespace

namespace {

bool has_default_value(const google::protobuf::Message& msg, const google::protobuf::FieldDescriptor* f) {
  using FD = google::protobuf::FieldDescriptor;
  const auto* r = msg.GetReflection();
  switch (f->cpp_type()) {
    case FD::CPPTYPE_STRING: return r->GetStringReference(msg, f, nullptr).empty();
    case FD::CPPTYPE_INT32: return r->GetInt32(msg, f) == 0;
    case FD::CPPTYPE_INT64: return r->GetInt64(msg, f) == 0;
    case FD::CPPTYPE_UINT32: return r->GetUInt32(msg, f) == 0;
    case FD::CPPTYPE_UINT64: return r->GetUInt64(msg, f) == 0;
    case FD::CPPTYPE_ENUM: return r->GetEnumValue(msg, f) == 0;
    case FD::CPPTYPE_BOOL: return !r->GetBool(msg, f);
    case FD::CPPTYPE_FLOAT: {
      float v = r->GetFloat(msg, f);
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      return bits == 0;
    }
    case FD::CPPTYPE_DOUBLE: {
      double v = r->GetDouble(msg, f);
      uint64_t bits;
      std::memcpy(&bits, &v, 8);
      return bits == 0;
    }
    default: return false;
  }
}

}  // namespace

std::string unknown_fields(const google::protobuf::Message& msg) {
  // Two things the ir does not model: fields unknown to our ONNX version, and singular fields
  // that are present but hold their default ("" doc strings, domain "", model_version 0). Both
  // are kept as wire bytes, which restore_unknown_fields merges back before the real values.
  std::string out;
  const auto* r = msg.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  r->ListFields(msg, &fields);
  std::unique_ptr<google::protobuf::Message> shadow;
  for (const auto* f : fields) {
    if (f->is_repeated() || f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (!has_default_value(msg, f)) continue;
    if (!shadow) shadow.reset(msg.New());
    const auto* sr = shadow->GetReflection();
    using FD = google::protobuf::FieldDescriptor;
    switch (f->cpp_type()) {
      case FD::CPPTYPE_STRING: sr->SetString(shadow.get(), f, ""); break;
      case FD::CPPTYPE_INT32: sr->SetInt32(shadow.get(), f, 0); break;
      case FD::CPPTYPE_INT64: sr->SetInt64(shadow.get(), f, 0); break;
      case FD::CPPTYPE_UINT32: sr->SetUInt32(shadow.get(), f, 0); break;
      case FD::CPPTYPE_UINT64: sr->SetUInt64(shadow.get(), f, 0); break;
      case FD::CPPTYPE_ENUM: sr->SetEnumValue(shadow.get(), f, 0); break;
      case FD::CPPTYPE_BOOL: sr->SetBool(shadow.get(), f, false); break;
      case FD::CPPTYPE_FLOAT: sr->SetFloat(shadow.get(), f, 0.f); break;
      case FD::CPPTYPE_DOUBLE: sr->SetDouble(shadow.get(), f, 0.0); break;
      default: break;
    }
  }
  if (shadow) shadow->SerializeToString(&out);
  const auto& unknown = r->GetUnknownFields(msg);
  if (!unknown.empty()) {
    std::string more;
    unknown.SerializeToString(&more);
    out += more;
  }
  return out;
}

void restore_unknown_fields(const std::string& extra, google::protobuf::Message& msg) {
  if (!extra.empty()) msg.MergeFromString(extra);
}

ir::NamedTensor tensor_from_proto(onnx::TensorProto& p, ExternalReader& reader, const std::string& where) {
  ir::NamedTensor t;
  t.name = p.name();
  t.doc_string = p.doc_string();
  t.extra = unknown_fields(p);  // before the data moves out
  std::string what = where + ": tensor '" + p.name() + "'";
  if (!p.has_data_type() || !is_known_dtype(p.data_type()))
    throw_bad_input("{}: unknown data type {}", what, p.data_type());
  auto dtype = static_cast<DType>(p.data_type());
  Shape shape(p.dims().begin(), p.dims().end());
  int64_t numel = checked_numel(shape, what);
  if (p.has_segment()) throw_unsupported("{}: segmented tensors are not supported", what);

  if (dtype == DType::string) {
    if (p.data_location() == onnx::TensorProto::EXTERNAL)
      throw_unsupported("{}: string tensors with external data are not supported", what);
    if (p.string_data_size() != numel)
      throw_bad_input("{}: has {} strings for dims {}", what, p.string_data_size(), shape_string(shape));
    std::vector<std::string> strings(p.mutable_string_data()->begin(), p.mutable_string_data()->end());
    t.tensor = Tensor::from_strings(std::move(shape), std::move(strings));
    t.typed_encoding = true;
    return t;
  }

  auto expected = storage_bytes(dtype, numel);
  if (!expected) throw_bad_input("{}: dims {} are too large", what, shape_string(shape));
  std::string bytes;
  if (p.data_location() == onnx::TensorProto::EXTERNAL) {
    bytes = reader.read(p, p.name());
    if (static_cast<int64_t>(bytes.size()) != *expected)
      throw_bad_input("{}: external data holds {} bytes, dims {} of {} need {}", what, bytes.size(),
                      shape_string(shape), dtype_name(dtype), *expected);
  } else if (p.has_raw_data()) {
    if (static_cast<int64_t>(p.raw_data().size()) != *expected)
      throw_bad_input("{}: raw_data holds {} bytes, dims {} of {} need {}", what, p.raw_data().size(),
                      shape_string(shape), dtype_name(dtype), *expected);
    bytes.swap(*p.mutable_raw_data());
  } else if (typed_count(p) > 0 || *expected == 0) {
    bytes = bytes_from_typed(p, dtype, *expected, what);
    t.typed_encoding = true;
  } else {
    throw_bad_input("{}: has dims {} but no data", what, shape_string(shape));
  }
  t.tensor = Tensor::from_bytes(dtype, std::move(shape), std::move(bytes));
  return t;
}

void tensor_to_proto(ir::NamedTensor& t, onnx::TensorProto& p, DataMode mode, ExternalWriter* external) {
  restore_unknown_fields(t.extra, p);
  if (!t.name.empty()) p.set_name(t.name);
  if (!t.doc_string.empty()) p.set_doc_string(t.doc_string);
  p.set_data_type(static_cast<int32_t>(t.tensor.dtype()));
  for (int64_t d : t.tensor.shape()) p.add_dims(d);
  Tensor& tensor = t.tensor;
  if (tensor.dtype() == DType::string) {
    for (const std::string& s : tensor.strings()) p.add_string_data(s);
    return;
  }
  if (mode == DataMode::skeleton) {
    // Shape inference needs only small integer tensors (shapes, axes) to propagate values.
    bool is_shape_like = (tensor.dtype() == DType::i64 || tensor.dtype() == DType::i32) && tensor.numel() <= 64;
    if (is_shape_like) p.set_raw_data(tensor.storage());
    return;
  }
  if (external && external->maybe_write(tensor.storage(), p)) {
    if (mode == DataMode::move) std::string().swap(tensor.storage());
    return;
  }
  if (t.typed_encoding) {
    typed_from_bytes(tensor, p);
    return;
  }
  if (mode == DataMode::move) p.mutable_raw_data()->swap(tensor.storage());
  else p.set_raw_data(tensor.storage());
}

}  // namespace mcompress::onnxio
