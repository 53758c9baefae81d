#include "mcompress/data/dataset.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "mcompress/data/arrays.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/support/error.h"

namespace mcompress::data {

namespace fs = std::filesystem;

Preprocess Preprocess::parse(const std::string& spec) {
  Preprocess p;
  std::stringstream ss(spec);
  std::string part;
  while (std::getline(ss, part, ',')) {
    auto eq = part.find('=');
    if (eq == std::string::npos) throw_usage("--preprocess: '{}' is not KEY=VALUE", part);
    std::string key = part.substr(0, eq), value = part.substr(eq + 1);
    char* end = nullptr;
    double v = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0' || !std::isfinite(v)) throw_usage("--preprocess: '{}' is not a number", value);
    if (key == "scale") p.scale = v;
    else if (key == "mean") p.mean = v;
    else if (key == "std") {
      if (v == 0) throw_usage("--preprocess: std must not be 0");
      p.std = v;
    } else {
      throw_usage("--preprocess: unknown key '{}' (expected scale, mean, std)", key);
    }
  }
  return p;
}

namespace {

bool has_suffix(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Static sample shape of an input (dims after the first), or nullopt if any is symbolic.
std::optional<Shape> sample_shape(const ir::ValueInfo& v) {
  if (!v.type || !v.type->shape || v.type->shape->empty()) return std::nullopt;
  Shape s;
  for (size_t i = 1; i < v.type->shape->size(); ++i) {
    const auto& d = (*v.type->shape)[i];
    if (!d.value) return std::nullopt;
    s.push_back(*d.value);
  }
  return s;
}

// A value given once for every batch (no sample axis): a scalar model input such as a sample
// rate, or a 0-d array.
bool is_constant_input(const ir::ValueInfo& v, const Tensor& a) {
  if (a.rank() == 0) return true;
  return v.type && v.type->shape && v.type->shape->empty();
}

}  // namespace

Dataset load_dataset(const fs::path& path, const std::vector<ir::ValueInfo>& inputs, const Preprocess& preprocess) {
  Dataset ds;
  ds.inputs = inputs;
  ds.preprocess = preprocess;
  ds.source = path.string();
  const std::string where = path.string();
  std::error_code ec;
  if (!fs::exists(path, ec)) throw_bad_input("{}: no such file or folder", where);
  NamedArrays named;
  std::string name = path.filename().string();
  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(path))
      if (e.path().extension() == ".pb") files.push_back(e.path());
    std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
      // input_2.pb before input_10.pb
      auto key = [](const fs::path& p) {
        std::string s = p.stem().string();
        auto us = s.find_last_of('_');
        return std::make_pair(s.substr(0, us), us == std::string::npos ? 0 : std::atoi(s.c_str() + us + 1));
      };
      return key(a) < key(b);
    });
    if (files.empty()) throw_bad_input("{}: folder holds no .pb tensor files", where);
    for (const auto& f : files) {
      ir::NamedTensor t = onnxio::load_tensor_file(f);
      named.emplace_back(t.name, std::move(t.tensor));
    }
  } else if (has_suffix(name, ".npz")) {
    named = read_npz(path);
  } else if (has_suffix(name, ".npy")) {
    named.emplace_back("", read_npy(path));
  } else {
    named.emplace_back("", read_idx(path));
  }

  // Match by name where every input is named in the data, else by order.
  bool by_name = std::all_of(inputs.begin(), inputs.end(), [&](const ir::ValueInfo& v) {
    return std::any_of(named.begin(), named.end(), [&](const auto& a) { return a.first == v.name; });
  });
  if (!by_name && named.size() != inputs.size())
    throw_bad_input("{}: holds {} arrays for a model with {} inputs, and their names do not match the inputs", where,
                    named.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!by_name) {
      ds.arrays.push_back(std::move(named[i].second));
      continue;
    }
    for (auto& a : named)
      if (a.first == inputs[i].name) ds.arrays.push_back(std::move(a.second));
  }
  // Arrays whose first axes disagree but whose ranks match their inputs are one whole batch, fed
  // as is (state inputs such as an RNN's h and c put the batch on another axis).
  bool counts_differ = false;
  int64_t first_count = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& a = ds.arrays[i];
    if (is_constant_input(inputs[i], a)) continue;
    if (first_count >= 0 && a.shape()[0] != first_count) counts_differ = true;
    first_count = a.shape()[0];
  }
  bool ranks_match = std::all_of(inputs.begin(), inputs.end(), [&](const ir::ValueInfo& v) {
    size_t i = static_cast<size_t>(&v - inputs.data());
    return v.type && v.type->shape && static_cast<int64_t>(v.type->shape->size()) == ds.arrays[i].rank();
  });
  if (counts_differ && ranks_match) {
    ds.whole_batch = true;
    ds.samples = 1;
    return ds;
  }
  ds.samples = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& a = ds.arrays[i];
    if (is_constant_input(inputs[i], a)) continue;
    if (ds.samples >= 0 && a.shape()[0] != ds.samples)
      throw_bad_input("{}: inputs have different sample counts ({} and {})", where, ds.samples, a.shape()[0]);
    ds.samples = a.shape()[0];
    if (auto s = sample_shape(inputs[i])) {
      int64_t per_sample = a.numel() / std::max<int64_t>(a.shape()[0], 1);
      int64_t wanted = 1;
      for (int64_t d : *s) wanted *= d;
      if (per_sample != wanted)
        throw_bad_input("{}: samples of '{}' have {} elements ({}), the model input needs {} ({})", where,
                        inputs[i].name, per_sample, shape_string(Shape(a.shape().begin() + 1, a.shape().end())),
                        wanted, shape_string(*s));
    }
  }
  if (ds.samples < 0) ds.samples = 1;
  return ds;
}

std::vector<Tensor> Dataset::batch(int64_t begin, int64_t count) const {
  std::vector<Tensor> out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& a = arrays[i];
    DType want = inputs[i].type && inputs[i].type->is_tensor() && inputs[i].type->elem != DType::undefined
                     ? inputs[i].type->elem
                     : a.dtype();
    bool constant = whole_batch || is_constant_input(inputs[i], a);
    if (constant && a.dtype() == want) {
      out.push_back(a);
      continue;
    }
    Shape shape = a.shape();
    int64_t per_sample = 1;
    if (!constant) {
      per_sample = a.numel() / std::max<int64_t>(a.shape()[0], 1);
      shape[0] = count;
      if (auto s = sample_shape(inputs[i])) {
        shape = {count};
        shape.insert(shape.end(), s->begin(), s->end());
      }
    }
    int64_t first = constant ? 0 : begin * per_sample;
    int64_t n = constant ? a.numel() : count * per_sample;
    if (a.dtype() == want && want != DType::f32) {
      int64_t width = dtype_info(want).bits / 8;
      out.push_back(Tensor::from_bytes(want, shape, a.storage().substr(static_cast<size_t>(first * width),
                                                                       static_cast<size_t>(n * width))));
      continue;
    }
    Tensor t(want, shape);
    bool to_float = dtype_info(want).is_float;
    for (int64_t k = 0; k < n; ++k) {
      double v = a.dtype() == DType::u8 ? static_cast<uint8_t>(a.storage()[static_cast<size_t>(first + k)])
                                        : element_as_double(a, first + k);
      if (to_float) v = (v * preprocess.scale - preprocess.mean) / preprocess.std;
      switch (want) {
        case DType::f32: t.data<float>()[k] = static_cast<float>(v); break;
        case DType::f64: t.data<double>()[k] = v; break;
        case DType::f16:  // float16 models' inputs: rounded to nearest even
          t.data<uint16_t>()[k] = Eigen::numext::bit_cast<uint16_t>(Eigen::half(static_cast<float>(v)));
          break;
        case DType::bf16:
          t.data<uint16_t>()[k] = Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(static_cast<float>(v)));
          break;
        case DType::i64: t.data<int64_t>()[k] = static_cast<int64_t>(v); break;
        case DType::i32: t.data<int32_t>()[k] = static_cast<int32_t>(v); break;
        case DType::u8: t.data<uint8_t>()[k] = static_cast<uint8_t>(v); break;
        case DType::i8: t.data<int8_t>()[k] = static_cast<int8_t>(v); break;
        case DType::boolean: t.data<uint8_t>()[k] = v != 0; break;
        default:
          throw_unsupported("{}: cannot convert {} data to the {} input '{}'", source, dtype_name(a.dtype()),
                            dtype_name(want), inputs[i].name);
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<int64_t> load_labels(const fs::path& path) {
  std::string name = path.filename().string();
  Tensor t = has_suffix(name, ".npy") ? read_npy(path) : read_idx(path);
  if (dtype_info(t.dtype()).is_float) throw_bad_input("{}: labels must be integers, got {}", path.string(), dtype_name(t.dtype()));
  if (t.rank() != 1) throw_bad_input("{}: labels must be one-dimensional, got shape {}", path.string(), shape_string(t.shape()));
  std::vector<int64_t> labels(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) labels[static_cast<size_t>(i)] = static_cast<int64_t>(element_as_double(t, i));
  return labels;
}

}  // namespace mcompress::data
