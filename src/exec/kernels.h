#pragma once
// Private helpers shared by the kernel files: broadcasting, axis handling, dtype dispatch.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "mcompress/exec/op.h"

namespace mcompress::exec {

// Row per op family; registry.cpp gathers them.
std::span<const OpDef> elementwise_ops();
std::span<const OpDef> shape_ops();
std::span<const OpDef> nn_ops();
std::span<const OpDef> quant_ops();
std::span<const OpDef> contrib_quant_ops();
std::span<const OpDef> rnn_ops();
std::span<const OpDef> control_ops();
std::span<const OpDef> string_ops();

// Numpy-style broadcast of several shapes; fails naming the node when they do not broadcast.
Shape broadcast_shapes(const OpContext& ctx, const std::vector<const Shape*>& shapes);

// Strides of `shape` laid against an output of rank `out_rank`, 0 along broadcast dims.
std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out);

// Axis in [-rank, rank) → [0, rank); fails naming the node otherwise.
int64_t normalize_axis(const OpContext& ctx, int64_t axis, int64_t rank);

// Bytes per element for kernels that move elements bytewise; strings and packed 4-bit types
// cannot be, and are refused as unsupported naming the node.
int64_t element_width(const OpContext& ctx, DType dtype);

// Product of dims [begin, end) of a shape (1 for an empty range).
int64_t product(const Shape& s, size_t begin, size_t end);

// Integer contents of an int32/int64 tensor (shapes, axes, indices).
std::vector<int64_t> to_int64s(const OpContext& ctx, const Tensor& t);
// Float contents of any float/int tensor, converted.
std::vector<float> to_floats(const Tensor& t);

// float16 / bfloat16.
inline bool is_half(DType d) { return d == DType::f16 || d == DType::bf16; }
// A float16 / bfloat16 tensor as float32 (exact).
Tensor half_to_float(const Tensor& t, ThreadPool& pool);
// A float32 tensor as `half` (float16 or bfloat16), each value rounded to nearest even.
Tensor float_to_half(const Tensor& t, DType half, ThreadPool& pool);

// Visits every output index of a broadcast op: f(out_index, offset_a, offset_b, ...) with the
// offsets of each input. Loops innermost dimension as a contiguous run.
template <size_t N, typename F>
void for_each_broadcast(const Shape& out, const std::array<std::vector<int64_t>, N>& strides, F&& f) {
  int64_t total = 1;
  for (int64_t d : out) total *= d;
  if (total == 0) return;
  size_t rank = out.size();
  if (rank == 0) {
    std::array<int64_t, N> offsets{};
    f(0, offsets);
    return;
  }
  std::vector<int64_t> counter(rank, 0);
  std::array<int64_t, N> offsets{};
  int64_t inner = out[rank - 1];
  for (int64_t index = 0; index < total; index += inner) {
    std::array<int64_t, N> o = offsets;
    for (int64_t i = 0; i < inner; ++i) {
      f(index + i, o);
      for (size_t k = 0; k < N; ++k) o[k] += strides[k][rank - 1];
    }
    // Advance the outer counters.
    for (size_t d = rank - 1; d-- > 0;) {
      ++counter[d];
      for (size_t k = 0; k < N; ++k) offsets[k] += strides[k][d];
      if (counter[d] < out[d]) break;
      for (size_t k = 0; k < N; ++k) offsets[k] -= strides[k][d] * out[d];
      counter[d] = 0;
    }
  }
}

// Calls f(T{}) with T the C++ type of a numeric dtype; unsupported dtypes fail naming the node.
template <typename F>
void dispatch_numeric(const OpContext& ctx, DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32: f(float{}); return;
    case DType::f64: f(double{}); return;
    case DType::i64: f(int64_t{}); return;
    case DType::i32: f(int32_t{}); return;
    case DType::i16: f(int16_t{}); return;
    case DType::i8: f(int8_t{}); return;
    case DType::u8: f(uint8_t{}); return;
    case DType::u16: f(uint16_t{}); return;
    case DType::u32: f(uint32_t{}); return;
    case DType::u64: f(uint64_t{}); return;
    default: ctx.unsupported("data type " + std::string(dtype_name(dtype)) + " is not supported here");
  }
}

// Elements processed per parallel chunk for cheap element-wise work.
constexpr int64_t kElementGrain = 1 << 15;

}  // namespace mcompress::exec
