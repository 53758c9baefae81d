#pragma once
// mcompress prune: magnitude, N:M and structured channel pruning.
//
// Before: a float model; the weights of Conv (input 1), Gemm (input 1) and MatMul (a constant
//   rank-2 input 1) wherever they are stored (initializers, Constant nodes, subgraphs).
// After:
//   magnitude / nm — the same graph, pruned weights zeroed in place. A pruned initializer is stored
//     as a sparse_initializer (int32 linear indices) when that makes the file smaller, and only then.
//   channel — a smaller dense graph: the removed output channels/neurons disappear from their
//     producers (Conv/Gemm/MatMul weights and biases; a MatMul's channels are its last axis, its
//     bias the constant of the Add after it), from every op they pass through (BatchNormalization,
//     per-channel constants of elementwise ops, depthwise Conv) and from their consumers' input
//     channels (Conv) or input columns (Gemm/MatMul, a block of H*W columns per channel after a
//     Flatten or a Reshape to [N, -1]). Channels tied by a residual Add/Mul/Sub/Div share one choice;
//     a Concat lays its inputs' channels end to end and a Split along the same boundaries takes them
//     apart again (its sizes are rewritten). A grouped Conv's outputs lose the same number of
//     channels in every group, and so does each group of its input (groups move together; `group`
//     stays); a depthwise Conv passes its input's channels through (`group` follows).
// Preconditions: float32 weights (others are left alone and listed); channel: main graph, shapes
//   static enough for ONNX shape inference to give the channel dims.
// Math:
//   magnitude — zero the k = round(F * n) smallest |w| (per weight for --scope layer, over all
//     prunable weights for --scope global); ties broken by (weight order, element index), so the
//     sparsity is exact and the result deterministic.
//   nm — in every group of M consecutive weights along the reduction axis (Conv: input channels,
//     Gemm: K whatever transB, MatMul: K) keep the N largest |w| (ties: lower index kept).
//   channel — importance of channel c = Σ over the space's producers of ‖W_c‖₁ (l1), ‖W_c‖₂ (l2)
//     or |γ_c| of the BatchNormalization right after each producer (bn); remove round(F * C) of
//     the least important (at least one channel stays).
// Known gaps: a grouped Conv reading a Concat, whole groups are never removed, a Split that cuts
//   through a Concat's input, Reshape other than a flatten, Shape / Squeeze /
//   Transpose and MatMul reading channels on a non-last axis stop channel pruning of what they read
//   (listed in the report with the reason, never a broken model); channel pruning looks at the main
//   graph only; sparse storage only for initializers (Constant nodes stay dense); onnx.checker
//   (1.12) rejects the int32 sparse indices ONNX Runtime accepts (ARCHITECTURE.md chose them;
//   --dense avoids sparse storage).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mcompress/ir/graph.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/passes/pass.h"

namespace mcompress::passes {

// The ops pruning touches: their weights (magnitude, nm) or output channels (channel).
inline constexpr std::string_view kPrunableOps[] = {"Conv", "Gemm", "MatMul"};
bool is_prunable_op(std::string_view op_type);  // one of kPrunableOps
bool is_prunable_op(const ir::Node& node);      // and in the default domain

enum class PruneMethod { magnitude, nm, channel };
enum class PruneScope { layer, global };
enum class PruneCriterion { l1, l2, bn };

struct PruneOptions {
  PruneMethod method = PruneMethod::magnitude;
  double sparsity = 0.5;                    // magnitude, channel: fraction removed, in [0, 1)
  PruneScope scope = PruneScope::layer;     // magnitude
  std::string nm = "2:4";                   // nm: N:M, 0 < N < M
  PruneCriterion criterion = PruneCriterion::l1;  // channel
  bool sparse_storage = true;               // magnitude / nm: sparse_initializer where smaller
  onnxio::ShapeOptions shapes;              // channel: input shapes for shape inference and MACs
  std::vector<std::string> exclude;         // --exclude regexes over node and weight names
  std::vector<std::string> op_types;        // empty: Conv, Gemm, MatMul; channel: whose outputs lose channels

  // Throws usage errors naming the flag (--sparsity 1.2, --nm 4:2).
  void validate() const;
  bool selects(std::string_view op_type) const;  // by op_types
  int64_t n() const;  // parsed from nm
  int64_t m() const;
};

// Which elements of one weight survive. The mask is the whole result of magnitude / N:M pruning,
// kept separate from applying it so that fine-tuning can hold it fixed: compute (or derive from an
// already pruned model with mask_from_zeros) once, then apply_mask after every optimizer step.
struct WeightMask {
  std::string name;           // the weight tensor's name
  Shape shape;                // the weight's dense shape
  std::vector<uint8_t> keep;  // row-major like the weight; 1 = kept
  double sparsity() const;    // fraction of zeros in keep
};

// The masks --method magnitude / nm would apply to `model`; changes nothing. Weights the method
// cannot prune (N:M: reduction size not a multiple of M; not float32) are left out and named in
// `skipped` ("name: reason").
std::vector<WeightMask> compute_masks(ir::Model& model, const PruneOptions& options, std::vector<std::string>* skipped);

// The mask an already pruned float32 weight implies: its non-zeros are kept.
WeightMask mask_from_zeros(const ir::NamedTensor& weight);

// Zeroes the elements the mask drops (float32, shape must match).
void apply_mask(Tensor& weight, const WeightMask& mask);

// --method magnitude / nm: compute_masks, apply them, store sparse where smaller.
PassResult prune_weights(ir::Model& model, const PruneOptions& options, const ProgressFn& progress = {});

// --method channel: structured channel removal (see the header comment).
PassResult prune_channels(ir::Model& model, const PruneOptions& options, const ProgressFn& progress = {});

// Dispatches on options.method.
PassResult prune(ir::Model& model, const PruneOptions& options, const ProgressFn& progress = {});

}  // namespace mcompress::passes
