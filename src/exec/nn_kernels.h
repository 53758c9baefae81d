#pragma once
// Private to the nn family: the kernels nn_ops.cpp lists, the GEMM every dense kernel runs on,
// and the window geometry (kernel, strides, dilations, pads, auto_pad) Conv and the pools share.
#include <cstdint>
#include <vector>

#include "kernels.h"

namespace mcompress::exec {

// ---- kernels (matmul.cpp, conv.cpp, pool.cpp, norm.cpp, reduce.cpp) -----------------------

void matmul(OpContext& ctx);
void gemm(OpContext& ctx);
void einsum(OpContext& ctx);
void conv(OpContext& ctx);
void conv_transpose(OpContext& ctx);
void max_pool(OpContext& ctx);
void average_pool(OpContext& ctx);
void lp_pool(OpContext& ctx);
void global_average_pool(OpContext& ctx);
void global_max_pool(OpContext& ctx);
void global_lp_pool(OpContext& ctx);
void batch_normalization(OpContext& ctx);
void instance_normalization(OpContext& ctx);
void layer_normalization(OpContext& ctx);
void group_normalization(OpContext& ctx);
void softmax(OpContext& ctx);
void log_softmax(OpContext& ctx);
void hardmax(OpContext& ctx);
void reduce_max(OpContext& ctx);
void reduce_min(OpContext& ctx);
void reduce_mean(OpContext& ctx);
void reduce_sum(OpContext& ctx);
void reduce_prod(OpContext& ctx);
void reduce_l1(OpContext& ctx);
void reduce_l2(OpContext& ctx);
void reduce_log_sum(OpContext& ctx);
void reduce_log_sum_exp(OpContext& ctx);
void reduce_sum_square(OpContext& ctx);
void arg_max(OpContext& ctx);
void arg_min(OpContext& ctx);

// ---- GEMM ---------------------------------------------------------------------------------

// One operand of a row-major GEMM: element (r, c) of op(X) is data[r * ld + c], or
// data[c * ld + r] when transposed.
struct GemmOperand {
  const float* data;
  int64_t ld;
  bool trans;
};

// C[m x n] (row stride ldc) = alpha * op(A)[m x k] * op(B)[k x n] (+ C when accumulate), as one
// Eigen call on the calling thread. Callers that parallelise split C into blocks whose shape
// depends only on the problem, so the result never depends on the thread count.
void gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, GemmOperand a, GemmOperand b, float* c, int64_t ldc,
              bool accumulate);

// Same product, split into fixed tiles of C that run on the pool.
void gemm_f32_parallel(ThreadPool& pool, int64_t m, int64_t n, int64_t k, float alpha, GemmOperand a,
                       GemmOperand b, float* c, int64_t ldc, bool accumulate);

// ---- sliding windows ----------------------------------------------------------------------

// Geometry of a windowed op over the spatial dims (everything after N and C).
struct Window {
  std::vector<int64_t> in;  // input spatial extents
  std::vector<int64_t> kernel, strides, dilations;
  std::vector<int64_t> pad_begin, pad_end;
  std::vector<int64_t> out;  // output spatial extents

  size_t rank() const { return in.size(); }
  int64_t effective_kernel(size_t d) const { return (kernel[d] - 1) * dilations[d] + 1; }
};

// Reads strides, dilations, pads and auto_pad from the node and derives the output extents.
// `kernel` comes from kernel_shape or the weights; ceil_mode only applies to pools.
Window window_geometry(const OpContext& ctx, const Shape& x_shape, std::vector<int64_t> kernel, bool ceil_mode);

// Spatial extents padded to 3 (leading 1s), so 1-D and 2-D ops run the 3-D loops.
struct Extent3 {
  int64_t d, h, w;
};
Extent3 to_extent3(const std::vector<int64_t>& v, int64_t fill);

}  // namespace mcompress::exec
