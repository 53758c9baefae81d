#pragma once
// Runs an ir::Model forward on the tensor core. Weights are used in place (never copied);
// intermediate values are freed after their last use; observers see every value as it is
// computed (calibration gathers statistics batch by batch without keeping activations).
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mcompress/ir/graph.h"
#include "mcompress/support/thread_pool.h"
#include "mcompress/tensor/tensor.h"

namespace mcompress::exec {

class Observer {
 public:
  virtual ~Observer() = default;
  // Called once per computed value (node outputs of the main graph), in execution order.
  virtual void on_value(const std::string& name, const Tensor& value, const ir::Node& producer) = 0;
};

struct ExecOptions {
  int threads = 0;  // 0 = all cores; results do not depend on it
};

class Executor {
 public:
  // Checks every op (main graph and subgraphs) has a kernel: Error(unsupported) naming op and node.
  Executor(const ir::Model& model, ExecOptions options = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Graph inputs that are not initializers, in order.
  const std::vector<ir::ValueInfo>& inputs() const { return inputs_; }
  const std::vector<ir::ValueInfo>& outputs() const;

  // Feeds `feeds` by input name; returns every graph output by name.
  std::map<std::string, Tensor> run(const std::map<std::string, const Tensor*>& feeds, Observer* observer = nullptr);

  ThreadPool& pool() { return pool_; }

 private:
  struct Impl;
  const ir::Model& model_;
  std::vector<ir::ValueInfo> inputs_;
  ThreadPool pool_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mcompress::exec
