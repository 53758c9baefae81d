#pragma once
// What the data-free quantizers (weight-only, dynamic, int4, fp16) share: which nodes they
// rewrite (one table), and the rewrite state (fresh names, new initializers, report rows).
#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "graph_edit.h"
#include "mcompress/passes/quantize.h"
#include "mcompress/quant/quant.h"
#include "mcompress/support/thread_pool.h"

namespace mcompress::passes {

// A node whose weight input (an initializer) the mode rewrites.
struct Site {
  size_t node;
  std::string weight;
};

// Nodes of the main graph, in order, whose weight this mode rewrites (--op-types, --exclude applied).
std::vector<Site> find_sites(ir::Graph& g, const QuantizeOptions& options, QuantMode mode, const NameFilter& filter);

// Output-channel axis of the node's weight (per-channel scales run along it); -1: per tensor only.
int64_t channel_axis(const ir::Node& node, const Tensor& weight);

struct Rewriter {
  ir::Model& model;
  ir::Graph& g;
  const QuantizeOptions& options;
  const ProgressFn& progress;
  ThreadPool pool;
  edit::Namer names;
  std::vector<ir::NamedTensor> new_inits;
  PassResult result;
  size_t total = 0, done = 0;

  Rewriter(ir::Model& m, const QuantizeOptions& o, const ProgressFn& p);

  // A new initializer under a fresh name built from `base`; returns the name.
  std::string add_init(const std::string& base, Tensor t);
  std::string fresh(const std::string& base) { return names.fresh(base); }
  // `n` more rewrites follow (the progress lines' total; a caller may announce more first).
  void expect(size_t n) { total = std::max(total, done + n); }
  // One report row and one progress line.
  void report(const std::string& weight, const std::string& op_type, const Tensor& w, int64_t bytes_after,
              double rel_error, const std::string& to, const std::string& action);
  // int8 weight parameters: symmetric unless --asymmetric, per channel along `axis` unless
  // --granularity tensor (or axis -1).
  quant::QuantParams int8_params(const Tensor& w, int64_t axis, bool float_compute);
  // Adds the new initializers and drops what nothing reads any more.
  void finish();
};

// "ch", "t", "b32": the granularity in progress lines.
std::string granularity_name(const quant::QuantParams& p);
// Scale initializer: a scalar for one value, else 1-D.
Tensor scale_tensor(const std::vector<float>& scale);
// Zero-point initializer of `dtype` (i8 / u8) in `shape`.
Tensor zero_point_tensor(const std::vector<int32_t>& zp, DType dtype, Shape shape);
// [rows, cols] float32 -> [cols, rows].
Tensor transpose_2d(const Tensor& w);
// Gemm's alpha (1 for other ops), and its beta * C: C itself when beta is 1, else a scaled copy
// added through `rw` (find_sites guarantees C is an initializer then, in `inits`).
float gemm_alpha(const ir::Node& n);
std::string gemm_bias(Rewriter& rw, const ir::Node& n, const std::map<std::string, ir::NamedTensor*>& inits);
int64_t total_bytes(std::initializer_list<const Tensor*> tensors);

// `note` follows the format in the progress line and report (e.g. why a layer stays at 8 bits).
void rewrite_weight_only(Rewriter& rw, const std::vector<Site>& sites, std::string_view note = {});
void rewrite_dynamic(Rewriter& rw, const std::vector<Site>& sites);
void rewrite_int4(Rewriter& rw, const std::vector<Site>& sites);
void rewrite_fp16(Rewriter& rw);

}  // namespace mcompress::passes
