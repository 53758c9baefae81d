#include "support/models.h"

#include "mcompress/data/arrays.h"
#include "mcompress/data/dataset.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/report/fidelity.h"
#include "support/paths.h"

namespace mcompress::test {

std::filesystem::path fashion_inputs(int64_t n, const std::filesystem::path& dir) {
  ir::Model cnn = onnxio::load_model(models_dir() / "fashion_cnn.onnx");
  auto ds = data::load_dataset(kFashionDir / "t10k-images-idx3-ubyte.gz", cnn.graph.inputs,
                               data::Preprocess::parse(kFashionPreprocess));
  Tensor batch = std::move(ds.batch(0, n)[0]);
  std::filesystem::path out = dir / ("fashion_" + std::to_string(n) + ".npz");
  data::write_npz(out, {{"input", &batch}});
  return out;
}

std::filesystem::path fashion_labels(int64_t n, const std::filesystem::path& dir) {
  Tensor all = data::read_idx(kFashionDir / "t10k-labels-idx1-ubyte.gz");
  Tensor first = Tensor::from_bytes(all.dtype(), {n}, all.storage().substr(0, static_cast<size_t>(n)));
  std::filesystem::path out = dir / ("fashion_labels_" + std::to_string(n) + ".npy");
  data::write_npy(out, first);
  return out;
}

ir::ValueInfo tensor_input(const std::string& name, DType dtype, std::vector<std::optional<int64_t>> dims) {
  ir::ValueType t;
  t.elem = dtype;
  t.shape.emplace();
  for (auto d : dims) t.shape->push_back(ir::Dim{d, d ? "" : "N", {}, {}});
  return ir::ValueInfo{name, t, {}, {}};
}

std::map<std::string, int> op_counts(const ir::Model& model) {
  std::map<std::string, int> c;
  for (const auto& n : model.graph.nodes) ++c[n.op_type];
  return c;
}

std::map<std::string, int> op_counts(const std::filesystem::path& model) { return op_counts(onnxio::load_model(model)); }

double top1_agreement(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  if (a.empty() || a.size() != b.size()) return 0;
  int64_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  return static_cast<double>(same) / static_cast<double>(a.size());
}

double top1_agreement(const Tensor& a, const Tensor& b) {
  return top1_agreement(report::argmax_rows(a), report::argmax_rows(b));
}

std::vector<std::string> quantize_args(const std::filesystem::path& in, const std::filesystem::path& out,
                                       const std::string& mode) {
  std::vector<std::string> argv = {"quantize", in.string(), "-o", out.string(), "--json", "-q"};
  if (mode == "int4") argv.insert(argv.end(), {"--bits", "4"});
  else if (mode == "fp16") argv.insert(argv.end(), {"--bits", "16"});
  else argv.insert(argv.end(), {"--mode", mode});
  return argv;
}

}  // namespace mcompress::test
