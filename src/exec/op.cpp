#include "mcompress/exec/op.h"

#include <cstring>
#include <unordered_map>

#include "kernels.h"
#include "mcompress/support/error.h"

namespace mcompress::exec {

const Tensor& OpContext::in(size_t i) const {
  const Tensor* t = input(i);
  if (!t) fail("input " + std::to_string(i) + " is required");
  return *t;
}

Tensor OpContext::take_input(size_t i) {
  if (i < dying_.size() && dying_[i]) {
    Tensor t = std::move(*dying_[i]);
    dying_[i] = nullptr;
    inputs_[i] = nullptr;
    return t;
  }
  return in(i);
}

float OpContext::attr_float(std::string_view name, float fallback) const {
  const ir::Attribute* a = node_.attr(name);
  return a && a->type == ir::AttrType::f ? a->f : fallback;
}

std::vector<float> OpContext::attr_floats(std::string_view name) const {
  const ir::Attribute* a = node_.attr(name);
  return a && a->type == ir::AttrType::floats ? a->floats : std::vector<float>{};
}

void OpContext::fail(const std::string& message) const {
  throw Error(ExitCode::bad_input, "node " + node_.label() + ": " + message);
}

void OpContext::unsupported(const std::string& message) const {
  throw Error(ExitCode::unsupported, "node " + node_.label() + ": " + message);
}

namespace {

struct Registry {
  std::unordered_map<std::string, const OpDef*> by_key;
  std::vector<const OpDef*> all;
  Registry() {
    for (auto family : {elementwise_ops(), shape_ops(), nn_ops(), quant_ops(), contrib_quant_ops(), rnn_ops(), control_ops(),
                        string_ops()}) {
      for (const OpDef& op : family) {
        by_key[std::string(op.domain) + "::" + std::string(op.op_type)] = &op;
        all.push_back(&op);
      }
    }
  }
};

const Registry& registry() {
  static const Registry r;
  return r;
}

}  // namespace

const OpDef* find_op(std::string_view domain, std::string_view op_type) {
  const auto& r = registry();
  auto it = r.by_key.find(std::string(domain == "ai.onnx" ? "" : domain) + "::" + std::string(op_type));
  return it == r.by_key.end() ? nullptr : it->second;
}

std::vector<const OpDef*> all_ops() { return registry().all; }

Shape broadcast_shapes(const OpContext& ctx, const std::vector<const Shape*>& shapes) {
  size_t rank = 0;
  for (const Shape* s : shapes) rank = std::max(rank, s->size());
  Shape out(rank, 1);
  for (const Shape* s : shapes) {
    for (size_t i = 0; i < s->size(); ++i) {
      int64_t d = (*s)[s->size() - 1 - i];
      int64_t& o = out[rank - 1 - i];
      if (d == o || d == 1) continue;
      if (o != 1) {
        std::string all;
        for (const Shape* x : shapes) all += shape_string(*x) + " ";
        ctx.fail("shapes " + all + "do not broadcast");
      }
      o = d;
    }
  }
  return out;
}

std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    size_t o = out.size() - shape.size() + i;
    strides[o] = shape[i] == 1 ? 0 : stride;
    stride *= shape[i];
  }
  return strides;
}

int64_t normalize_axis(const OpContext& ctx, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
    ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

int64_t element_width(const OpContext& ctx, DType dtype) {
  int bits = dtype_info(dtype).bits;
  if (bits == 0 || bits % 8 != 0)
    ctx.unsupported("data type " + std::string(dtype_name(dtype)) + " is not supported here");
  return bits / 8;
}

int64_t product(const Shape& s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < s.size(); ++i) p *= s[i];
  return p;
}

std::vector<int64_t> to_int64s(const OpContext& ctx, const Tensor& t) {
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::i64) {
    if (!out.empty()) std::memcpy(out.data(), t.data<int64_t>(), out.size() * 8);
  } else if (t.dtype() == DType::i32) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = t.data<int32_t>()[i];
  } else {
    ctx.fail("expected an int64 or int32 tensor, got " + std::string(dtype_name(t.dtype())));
  }
  return out;
}

std::vector<float> to_floats(const Tensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::f32) {
    if (!out.empty()) std::memcpy(out.data(), t.data<float>(), out.size() * 4);
    return out;
  }
  for (int64_t i = 0; i < t.numel(); ++i) out[static_cast<size_t>(i)] = static_cast<float>(element_as_double(t, i));
  return out;
}

Tensor half_to_float(const Tensor& t, ThreadPool& pool) {
  Tensor out(DType::f32, t.shape());
  const uint16_t* src = t.data<uint16_t>();
  float* dst = out.data<float>();
  bool f16 = t.dtype() == DType::f16;
  pool.parallel_for(t.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      dst[i] = f16 ? static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(src[i]))
                   : static_cast<float>(Eigen::numext::bit_cast<Eigen::bfloat16>(src[i]));
  });
  return out;
}

Tensor float_to_half(const Tensor& t, DType half, ThreadPool& pool) {
  Tensor out(half, t.shape());
  const float* src = t.data<float>();
  uint16_t* dst = out.data<uint16_t>();
  bool f16 = half == DType::f16;
  pool.parallel_for(t.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      dst[i] = f16 ? Eigen::numext::bit_cast<uint16_t>(Eigen::half(src[i]))
                   : Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(src[i]));
  });
  return out;
}

}  // namespace mcompress::exec
