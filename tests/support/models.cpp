#include "support/models.h"

#include "mcompress/onnx/model_io.h"
#include "mcompress/report/fidelity.h"

namespace mcompress::test {

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
