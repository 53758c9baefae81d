#pragma once
// What the data-free quantizers (weight-only, dynamic, int4, fp16) share: which nodes they
// rewrite (one table), and the rewrite state (fresh names, new initializers, report rows).
#include <algorithm>
#include <map>
#include <set>
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

struct Rewriter;
// Nodes of the rewriter's current graph, in order, whose weight (an initializer of that graph or
// of one around it) this mode rewrites (--op-types, --exclude applied).
std::vector<Site> find_sites(const Rewriter& rw, QuantMode mode, const NameFilter& filter);

// Output-channel axis of the node's weight (per-channel scales run along it); -1: per tensor only.
int64_t channel_axis(const ir::Node& node, const Tensor& weight);

// One rewriter serves the whole model; enter() moves it to each graph in turn (the main graph,
// then every If / Loop / Scan body): nodes are rewritten in the graph that holds them, and their
// new initializers are stored there.
struct Rewriter {
  ir::Model& model;
  ir::Graph* g;  // the graph being rewritten
  // Float weights that nodes of `g` read, by name, wherever they are stored (`g` or a graph
  // around it), with the graph that stores each and whether `g` is its only reader.
  std::map<std::string, ir::NamedTensor*> inits;
  std::map<std::string, ir::Graph*> homes;
  std::set<std::string> read_elsewhere;  // also read from other graphs (or returned as an output)
  const QuantizeOptions& options;
  const ProgressFn& progress;
  ThreadPool pool;
  edit::Namer names;
  std::vector<std::pair<ir::Graph*, ir::NamedTensor>> new_inits;  // and the graph that stores each
  ir::Graph* store = nullptr;  // where add_init stores (nullptr: `g`)
  // Weight-only chains (DequantizeLinear, or Cast/Sub/Mul) of weights that several graphs read,
  // by the graph that stores the weight: they go first in it once every graph is rewritten.
  std::map<ir::Graph*, std::vector<ir::Node>> dequantize_first;
  PassResult result;
  size_t total = 0, done = 0;

  Rewriter(ir::Model& m, const QuantizeOptions& o, const ProgressFn& p);

  // A new initializer under a fresh name built from `base`, in `store` or `g`; returns the name.
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
  // Makes `graph` (the model's, or a subgraph of it) the one rewritten next.
  void enter(ir::Graph& graph);
  // Adds the new initializers to `g` and drops what nothing reads any more.
  void finish();
  // After the last finish(): places the dequantize_first chains and drops the float weights that
  // the rewrites left unread, in every graph.
  void complete();
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
