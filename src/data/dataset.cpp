#include "mcompress/data/dataset.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>
#include <sstream>

#include "mcompress/data/arrays.h"
#include "mcompress/data/image.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/support/error.h"
#include "mcompress/support/file_io.h"

namespace mcompress::data {

namespace fs = std::filesystem;

namespace {

double parse_number(const std::string& value) {
  char* end = nullptr;
  double v = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || !std::isfinite(v)) throw_usage("--preprocess: '{}' is not a number", value);
  return v;
}

std::vector<double> parse_numbers(const std::string& value) {
  std::vector<double> out;
  std::stringstream ss(value);
  std::string item;
  while (std::getline(ss, item, ':')) out.push_back(parse_number(item));
  if (out.empty() || value.back() == ':') throw_usage("--preprocess: '{}' is not a number list (A:B:C)", value);
  return out;
}

// N or H:W, positive integers; N gives {N, 0} unless `square`, which gives {N, N}.
std::pair<int64_t, int64_t> parse_size(const std::string& key, const std::string& value, bool square) {
  std::vector<double> v = parse_numbers(value);
  for (double d : v)
    if (d < 1 || d != std::floor(d) || d > 1 << 20)
      throw_usage("--preprocess: {}={} needs positive whole sizes (N or H:W)", key, value);
  if (v.size() > 2) throw_usage("--preprocess: {}={} has more than two sizes (N or H:W)", key, value);
  auto h = static_cast<int64_t>(v[0]);
  return {h, v.size() == 2 ? static_cast<int64_t>(v[1]) : square ? h : 0};
}

}  // namespace

Preprocess Preprocess::parse(const std::string& spec) {
  Preprocess p;
  std::stringstream ss(spec);
  std::string part;
  while (std::getline(ss, part, ',')) {
    auto eq = part.find('=');
    std::string key = part.substr(0, eq), value = eq == std::string::npos ? "" : part.substr(eq + 1);
    if (eq == std::string::npos) {
      if (key == "rgb") p.color = Color::rgb;
      else if (key == "bgr") p.color = Color::bgr;
      else if (key == "gray") p.color = Color::gray;
      else if (key == "center-crop") p.center_crop = true;
      else throw_usage("--preprocess: '{}' is not KEY=VALUE (nor rgb, bgr, gray, center-crop)", part);
      continue;
    }
    if (key == "scale") {
      p.scale = parse_number(value);
    } else if (key == "mean") {
      p.mean = parse_numbers(value);
    } else if (key == "std") {
      p.std = parse_numbers(value);
      if (std::find(p.std.begin(), p.std.end(), 0.0) != p.std.end()) throw_usage("--preprocess: std must not be 0");
    } else if (key == "layout") {
      if (value == "nchw") p.layout = Layout::nchw;
      else if (value == "nhwc") p.layout = Layout::nhwc;
      else throw_usage("--preprocess: layout={} (expected nchw or nhwc)", value);
    } else if (key == "resize") {
      std::tie(p.resize_height, p.resize_width) = parse_size(key, value, false);
    } else if (key == "center-crop") {
      p.center_crop = true;
      std::tie(p.crop_height, p.crop_width) = parse_size(key, value, true);
    } else {
      throw_usage("--preprocess: unknown key '{}' (expected scale, mean, std, layout, resize, center-crop, rgb, bgr, "
                  "gray)", key);
    }
  }
  if (p.mean.size() > 1 && p.std.size() > 1 && p.mean.size() != p.std.size())
    throw_usage("--preprocess: mean has {} values, std {}", p.mean.size(), p.std.size());
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

// Channel axis of a rank-4 input under `layout` (automatic: axis 1, or axis 3 when that holds 1 or
// 3 channels and axis 1 does not).
bool is_nhwc(const Shape& dims, Preprocess::Layout layout) {
  if (layout != Preprocess::Layout::automatic) return layout == Preprocess::Layout::nhwc;
  auto channel_like = [](int64_t d) { return d == 1 || d == 3; };
  return dims.size() == 4 && !channel_like(dims[1]) && channel_like(dims[3]);
}

// Full static shape of an input, unknown dims as -1; nullopt without a shape.
std::optional<Shape> input_dims(const ir::ValueInfo& v) {
  if (!v.type || !v.type->shape) return std::nullopt;
  Shape s;
  for (const auto& d : *v.type->shape) s.push_back(d.value ? *d.value : -1);
  return s;
}

// {channels, elements per channel run} of input i for a per-channel mean/std.
std::pair<int64_t, int64_t> channel_runs(const ir::ValueInfo& v, const Tensor& a, const Preprocess& p,
                                         const std::string& where) {
  size_t count = std::max(p.mean.size(), p.std.size());
  if (count == 1) return {1, 1};
  if (!v.type || !dtype_info(v.type->elem).is_float) return {1, 1};  // mean/std apply to floats only
  Shape dims = input_dims(v).value_or(a.shape());
  if (dims.size() < 2) throw_usage("--preprocess: {} means/stds for '{}', which has no channel axis", count, v.name);
  for (size_t k = 1; k < dims.size(); ++k)
    if (dims[k] < 0 && a.rank() == static_cast<int64_t>(dims.size())) dims[k] = a.shape()[k];
  size_t axis = is_nhwc(dims, p.layout) ? dims.size() - 1 : 1;
  if (dims[axis] != static_cast<int64_t>(count))
    throw_usage("--preprocess: {} means/stds, but input '{}' of {} has {} channels on axis {}", count, v.name, where,
                dims[axis], axis);
  int64_t inner = 1;
  for (size_t k = axis + 1; k < dims.size(); ++k) {
    if (dims[k] < 0) throw_usage("--preprocess: per-channel mean/std needs the static shape of input '{}'", v.name);
    inner *= dims[k];
  }
  return {dims[axis], inner};
}

// A folder of images for a one-input model, as image.h describes.
void load_images(Dataset& ds, const fs::path& dir, const ImageFolder& folder, const Preprocess& p) {
  const std::string where = dir.string();
  if (ds.inputs.size() != 1)
    throw_bad_input("{}: a folder of images feeds one-input models; this one has {} inputs", where, ds.inputs.size());
  const ir::ValueInfo& in = ds.inputs[0];
  Shape dims = input_dims(in).value_or(Shape{-1, -1, -1, -1});
  if (dims.size() != 3 && dims.size() != 4)
    throw_bad_input("{}: images feed a rank-3 (N,H,W) or rank-4 input; '{}' has rank {}", where, in.name, dims.size());
  bool nhwc = is_nhwc(dims, p.layout);
  int64_t channels = dims.size() == 3 ? 1 : dims[nhwc ? 3 : 1];
  if (channels < 0) channels = p.color == Preprocess::Color::gray ? 1 : 3;
  if (channels != 1 && channels != 3)
    throw_bad_input("{}: input '{}' has {} channels; images give 1 (gray) or 3 (rgb, bgr)", where, in.name, channels);
  Preprocess::Color color = p.color;
  if (color == Preprocess::Color::automatic) color = channels == 1 ? Preprocess::Color::gray : Preprocess::Color::rgb;
  if ((color == Preprocess::Color::gray) != (channels == 1))
    throw_usage("--preprocess: {} for input '{}' with {} channels",
                color == Preprocess::Color::gray ? "gray" : "rgb/bgr", in.name, channels);
  size_t h_axis = dims.size() == 3 ? 1 : nhwc ? 1 : 2;
  int64_t want_h = dims[h_axis], want_w = dims[h_axis + 1];
  int64_t crop_h = p.crop_height, crop_w = p.crop_width;
  if (p.center_crop && !crop_h) {
    if (want_h < 0 || want_w < 0)
      throw_usage("--preprocess: center-crop without a size needs the height and width of input '{}'", in.name);
    crop_h = want_h;
    crop_w = want_w;
  }

  std::string bytes;
  for (const fs::path& file : folder.files) {
    Image image = decode_image(file);
    if (p.resize_height) {
      int64_t h = p.resize_height, w = p.resize_width;
      if (!w) {  // shorter side to N (torchvision: the longer side truncates)
        int64_t n = p.resize_height;
        bool tall = image.height > image.width;
        h = tall ? n * image.height / image.width : n;
        w = tall ? n : n * image.width / image.height;
      }
      image = resize_image(image, h, w);
    }
    if (p.center_crop) {
      if (crop_h > image.height || crop_w > image.width)
        throw_bad_input("{}: {}x{} image is smaller than center-crop {}x{}", file.string(), image.height, image.width,
                        crop_h, crop_w);
      auto top = static_cast<int64_t>(std::nearbyint(static_cast<double>(image.height - crop_h) / 2));
      auto left = static_cast<int64_t>(std::nearbyint(static_cast<double>(image.width - crop_w) / 2));
      Image cropped{crop_h, crop_w, {}};
      for (int64_t y = 0; y < crop_h; ++y) {
        auto row = image.rgb.begin() + ((top + y) * image.width + left) * 3;
        cropped.rgb.insert(cropped.rgb.end(), row, row + crop_w * 3);
      }
      image = std::move(cropped);
    }
    if (want_h < 0) want_h = image.height;  // a symbolic size: the first image fixes it
    if (want_w < 0) want_w = image.width;
    if (image.height != want_h || image.width != want_w)
      throw_bad_input("{}: {}x{} after preprocessing; input '{}' needs {}x{} (--preprocess resize=H:W or center-crop)",
                      file.string(), image.height, image.width, in.name, want_h, want_w);
    int64_t plane = want_h * want_w;
    size_t start = bytes.size();
    bytes.resize(start + static_cast<size_t>(plane * channels));
    auto* out = reinterpret_cast<uint8_t*>(bytes.data() + start);
    for (int64_t k = 0; k < plane; ++k) {
      const uint8_t* px = image.rgb.data() + k * 3;
      if (channels == 1) {  // PIL's convert("L"): ITU-R 601 in 16-bit fixed point
        out[k] = static_cast<uint8_t>((px[0] * 19595 + px[1] * 38470 + px[2] * 7471 + 0x8000) >> 16);
        continue;
      }
      for (int64_t c = 0; c < 3; ++c) {
        uint8_t v = px[color == Preprocess::Color::bgr ? 2 - c : c];
        out[nhwc ? k * 3 + c : c * plane + k] = v;
      }
    }
  }
  auto n = static_cast<int64_t>(folder.files.size());
  Shape shape = dims.size() == 3 ? Shape{n, want_h, want_w}
                : nhwc           ? Shape{n, want_h, want_w, channels}
                                 : Shape{n, channels, want_h, want_w};
  ds.arrays.push_back(Tensor::from_bytes(DType::u8, shape, std::move(bytes)));
  ds.samples = n;
  ds.sample_names = folder.names;
  ds.classes = folder.classes;
  ds.labels = folder.labels;
  if (ds.labels.empty() && fs::exists(dir / "labels.csv")) ds.labels = load_labels(dir / "labels.csv", ds.sample_names);
  size_t count = std::max(p.mean.size(), p.std.size());
  if (count > 1 && static_cast<int64_t>(count) != channels)
    throw_usage("--preprocess: {} means/stds for images of {} channels", count, channels);
  ds.channels = {count > 1 ? std::make_pair(channels, nhwc ? int64_t{1} : want_h * want_w) : std::make_pair(1L, 1L)};
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
    for (const auto& e : fs::directory_iterator(path))  // ONNX's test_data_set_N: output_K.pb are expectations
      if (e.path().extension() == ".pb" && e.path().filename().string().rfind("output_", 0) != 0)
        files.push_back(e.path());
    std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
      // input_2.pb before input_10.pb
      auto key = [](const fs::path& p) {
        std::string s = p.stem().string();
        auto us = s.find_last_of('_');
        return std::make_pair(s.substr(0, us), us == std::string::npos ? 0 : std::atoi(s.c_str() + us + 1));
      };
      return key(a) < key(b);
    });
    if (files.empty()) {
      ImageFolder images = list_image_folder(path);
      if (images.files.empty()) throw_bad_input("{}: folder holds no .pb tensor files and no PNG/JPEG images", where);
      load_images(ds, path, images, preprocess);
      return ds;
    }
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

  if (preprocess.has_image_options())
    throw_usage("--preprocess: resize, center-crop, rgb, bgr and gray apply to image folders; {} is not one", where);
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
  for (size_t i = 0; i < inputs.size(); ++i)
    ds.channels.push_back(channel_runs(inputs[i], ds.arrays[i], preprocess, where));
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
    auto [channel_count, channel_run] = i < channels.size() ? channels[i] : std::make_pair(int64_t{1}, int64_t{1});
    for (int64_t k = 0; k < n; ++k) {
      double v = a.dtype() == DType::u8 ? static_cast<uint8_t>(a.storage()[static_cast<size_t>(first + k)])
                                        : element_as_double(a, first + k);
      if (to_float) {
        auto c = static_cast<size_t>(channel_count > 1 ? (first + k) / channel_run % channel_count : 0);
        double mean = preprocess.mean[preprocess.mean.size() > 1 ? c : 0];
        double std = preprocess.std[preprocess.std.size() > 1 ? c : 0];
        v = (v * preprocess.scale - mean) / std;
      }
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

namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<int64_t> load_label_csv(const fs::path& path, const std::vector<std::string>& names) {
  const std::string where = path.string();
  if (names.empty()) throw_bad_input("{}: a labels CSV names image files; --data must be a folder of images", where);
  std::map<std::string, std::pair<int64_t, int>> rows;  // file -> label, line
  std::stringstream text(read_file(path));
  std::string line;
  for (int number = 1; std::getline(text, line); ++number) {
    line = trim(line);
    if (line.empty()) continue;
    auto comma = line.rfind(',');
    if (comma == std::string::npos) throw_bad_input("{}:{}: expected FILE,LABEL, got '{}'", where, number, line);
    std::string file = fs::path(trim(line.substr(0, comma))).lexically_normal().generic_string();
    std::string label = trim(line.substr(comma + 1));
    char* end = nullptr;
    long long value = std::strtoll(label.c_str(), &end, 10);
    if (label.empty() || *end != '\0') {
      if (rows.empty() && number == 1) continue;  // a header row
      throw_bad_input("{}:{}: label '{}' is not an integer", where, number, label);
    }
    if (!rows.emplace(file, std::make_pair(static_cast<int64_t>(value), number)).second)
      throw_bad_input("{}:{}: '{}' has a label already (line {})", where, number, file, rows[file].second);
  }
  std::vector<int64_t> labels;
  for (const std::string& name : names) {
    auto it = rows.find(name);
    if (it == rows.end()) throw_bad_input("{}: no label for image '{}'", where, name);
    labels.push_back(it->second.first);
    rows.erase(it);
  }
  if (!rows.empty())
    throw_bad_input("{}:{}: '{}' is not an image of the data folder", where, rows.begin()->second.second,
                    rows.begin()->first);
  return labels;
}

}  // namespace

std::vector<int64_t> load_labels(const fs::path& path, const std::vector<std::string>& names) {
  std::string name = path.filename().string();
  if (has_suffix(name, ".csv")) return load_label_csv(path, names);
  Tensor t = has_suffix(name, ".npy") ? read_npy(path) : read_idx(path);
  if (dtype_info(t.dtype()).is_float) throw_bad_input("{}: labels must be integers, got {}", path.string(), dtype_name(t.dtype()));
  if (t.rank() != 1) throw_bad_input("{}: labels must be one-dimensional, got shape {}", path.string(), shape_string(t.shape()));
  std::vector<int64_t> labels(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) labels[static_cast<size_t>(i)] = static_cast<int64_t>(element_as_double(t, i));
  return labels;
}

}  // namespace mcompress::data
