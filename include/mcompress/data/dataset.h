#pragma once
// Data for a model: the arrays of --data matched to the model's inputs, cut into batches,
// converted to each input's type (with --preprocess) and reshaped to its sample shape.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "mcompress/ir/graph.h"
#include "mcompress/tensor/tensor.h"

namespace mcompress::data {

// --preprocess KEY=VALUE,... (comma-separated; lists within a value are colon-separated):
//   scale=S             x * S, then
//   mean=M, std=D       (x - M) / D, when samples become floats. M and D are one number, or one per
//                       channel (mean=123.7:116.3:103.5), the channel axis following `layout`
//   layout=nchw|nhwc    where channels are (default: axis 1, or the last axis of a rank-4 input
//                       that has 1 or 3 there and not at axis 1)
// Image folders only (image.h):
//   resize=N | resize=H:W          shorter side to N keeping the aspect, or exactly H x W
//   center-crop | center-crop=N | center-crop=H:W   to the model input's H x W, N x N, or H x W
//   rgb | bgr | gray               channel order (default: gray for a 1-channel input, else rgb)
struct Preprocess {
  enum class Color { automatic, rgb, bgr, gray };
  enum class Layout { automatic, nchw, nhwc };
  double scale = 1.0;
  std::vector<double> mean{0.0};
  std::vector<double> std{1.0};
  Layout layout = Layout::automatic;
  // Image-only options; 0 = not given. resize_width 0 with resize_height N: shorter side N.
  int64_t resize_height = 0, resize_width = 0;
  bool center_crop = false;
  int64_t crop_height = 0, crop_width = 0;  // 0 with center_crop: the model input's size
  Color color = Color::automatic;

  bool has_image_options() const {
    return resize_height || center_crop || color != Color::automatic;
  }
  // Throws a usage error naming the bad part.
  static Preprocess parse(const std::string& spec);
};

struct Dataset {
  std::vector<ir::ValueInfo> inputs;  // the model inputs, in order
  std::vector<Tensor> arrays;         // one per input; first axis = samples
  int64_t samples = 0;
  Preprocess preprocess;
  std::string source;        // path, for messages
  bool whole_batch = false;  // the arrays are one batch, fed as they are
  // Per input: channel count and elements per channel run, for per-channel mean/std ({1, 1}: one
  // mean and std for every element).
  std::vector<std::pair<int64_t, int64_t>> channels;
  // Image folders: the file of each sample (relative, '/'-separated) and, with class folders or a
  // labels.csv, a label per sample (class folders: the index of the sorted class name).
  std::vector<std::string> sample_names;
  std::vector<std::string> classes;
  std::vector<int64_t> labels;

  // Samples [begin, begin + count) of every input, typed and shaped for the model.
  std::vector<Tensor> batch(int64_t begin, int64_t count) const;
};

// .npy (one-input models), .npz (one array per input name, or one array), a folder of TensorProto
// .pb files (matched by tensor name, else by order: input_0.pb, input_1.pb ... feed the inputs no
// initializer backs, as in ONNX's test_data_set_N folders, whose output_K.pb files are ignored), a
// folder of PNG/JPEG images for a one-input model (image.h; labels from class subfolders, else
// from DIR/labels.csv), or IDX (*-ubyte, *.idx, optionally .gz). The first axis of every array
// counts samples, except for scalar model inputs (e.g. a sample rate) and 0-d arrays, which are
// fed unchanged with every batch. When the first axes disagree but every array has its input's
// rank, the file is one batch, fed as is.
Dataset load_dataset(const std::filesystem::path& path, const std::vector<ir::ValueInfo>& inputs,
                     const Preprocess& preprocess);

// Integer class labels (.npy or IDX), one per sample; or a CSV of FILE,LABEL rows (an optional
// header row) naming the files of an image folder, `names` (Dataset::sample_names), in any order:
// every image needs exactly one row, and every row an image.
std::vector<int64_t> load_labels(const std::filesystem::path& path, const std::vector<std::string>& names = {});

}  // namespace mcompress::data
