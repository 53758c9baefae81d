#include "support/models.h"

#include "mcompress/onnx/model_io.h"
#include "mcompress/report/fidelity.h"

namespace mcompress::test {

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

}  // namespace mcompress::test
