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

// --preprocess scale=S,mean=M,std=D: x * S, then (x - M) / D, applied when samples become floats.
struct Preprocess {
  double scale = 1.0;
  double mean = 0.0;
  double std = 1.0;
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

  // Samples [begin, begin + count) of every input, typed and shaped for the model.
  std::vector<Tensor> batch(int64_t begin, int64_t count) const;
};

// .npy (one-input models), .npz (one array per input name, or one array), a folder of TensorProto
// .pb files (matched by tensor name, else by order: input_0.pb, input_1.pb ...), or IDX (*-ubyte,
// *.idx, optionally .gz). The first axis of every array counts samples, except for scalar model
// inputs (e.g. a sample rate) and 0-d arrays, which are fed unchanged with every batch. When the
// first axes disagree but every array has its input's rank, the file is one batch, fed as is.
Dataset load_dataset(const std::filesystem::path& path, const std::vector<ir::ValueInfo>& inputs,
                     const Preprocess& preprocess);

// Integer class labels (.npy or IDX), one per sample.
std::vector<int64_t> load_labels(const std::filesystem::path& path);

}  // namespace mcompress::data
