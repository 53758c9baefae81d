#pragma once
// Quantization math shared by every quantizing pass: how scales and zero points are chosen, and
// the reference quantize / dequantize. Formats are rows of one traits table (int8, uint8, int4,
// uint4); per-tensor, per-channel (an axis) and per-block (blocks of `block_size` along an axis).
//
// Layout of the parameters: for a weight of shape D with axis a, scale (and zero point) has
// shape [1, ...] (per tensor, axis -1), D with every dim but a set to 1 (per channel: D[a]
// values), or D with D[a] replaced by ceil(D[a] / block_size) (per block), stored row-major:
// ONNX's DequantizeLinear layout (opset 21 for blocks), and shapes that broadcast against D.
#include <cstdint>
#include <string_view>
#include <vector>

#include "mcompress/tensor/tensor.h"

namespace mcompress {
class ThreadPool;
}

namespace mcompress::quant {

// One row per integer format.
struct FormatTraits {
  DType dtype;
  std::string_view name;  // "int8", "uint8", "int4", "uint4"
  int bits;
  int32_t qmin, qmax;       // storage range; quantize saturates to it
  int32_t symmetric_max;    // symmetric: max|w| maps to +-symmetric_max around symmetric_zero
  int32_t symmetric_zero;   // 0 (signed) or the middle of the range (unsigned)
};

// Throws unsupported for a dtype that is not one of the four formats.
const FormatTraits& format_traits(DType dtype);

struct QuantParams {
  DType dtype = DType::i8;          // i8, u8, i4 or u4
  std::vector<float> scale;         // 1 (per tensor), dim[axis] (per channel) or blocks
  std::vector<int32_t> zero_point;  // same length as scale
  int64_t axis = -1;                // -1: per tensor
  int64_t block_size = 0;           // 0: not blocked; else blocks along `axis`

  // Shape of scale / zero point for a weight of shape `dims` (see the layout note above).
  Shape param_shape(const Shape& dims) const;
};

// Scale and zero point that map [lo, hi] (widened to include 0) onto dtype's range; symmetric
// uses max(|lo|, |hi|) with zero point 0 (int) or the middle (uint). A zero range gives scale 1.
QuantParams params_from_range(float lo, float hi, DType dtype, bool symmetric);

// How a group's range is chosen: its min/max, or the clipping of it (1.0 ... 0.5 of the range,
// then a least-squares refit of the scale) that gives the least squared error.
enum class RangeMethod { minmax, mse };

// Weights: per tensor (axis -1), per channel along `axis`, or per block of `block_size` along
// `axis`; each group's range chosen by `method`.
QuantParams choose_params(const Tensor& w, DType dtype, bool symmetric, int64_t axis = -1, int64_t block_size = 0,
                          RangeMethod method = RangeMethod::minmax, ThreadPool* pool = nullptr);

// round-half-to-even(x / scale) + zero point, saturated to dtype's range. Output dtype = params.dtype
// (4-bit formats packed low nibble first, as ONNX stores them).
Tensor quantize(const Tensor& w, const QuantParams& params, ThreadPool* pool = nullptr);
// (q - zero point) * scale, as float32 with q's shape.
Tensor dequantize(const Tensor& q, const QuantParams& params, ThreadPool* pool = nullptr);

// Scalar twins of quantize / dequantize, element by element; the tests hold the fast ones to them.
Tensor quantize_ref(const Tensor& w, const QuantParams& params);
Tensor dequantize_ref(const Tensor& q, const QuantParams& params);

// ||w - dequantize(quantize(w))|| / ||w|| (0 for an all-zero w).
double relative_error(const Tensor& w, const QuantParams& params, ThreadPool* pool = nullptr);

// Quantize and measure the relative error in one pass over w (what a pass reports per tensor).
struct Quantized {
  Tensor q;
  double rel_error = 0;
};
Quantized quantize_measured(const Tensor& w, const QuantParams& params, ThreadPool* pool = nullptr);

// uint4 blocks with a float zero point each (ONNX Runtime's MatMulNBits takes float zero points):
// w ~ (q - zero) * scale, q in 0..15, blocks of `block_size` along the last axis of a 2-D w
// whose width is a multiple of it. Each block's range is searched on a 2-D grid of clippings of
// its min and max, each refit by least squares for (scale, offset) given the integers
// (llama.cpp's k-quants approach), the best few polished by more refits. Its output SQNR beats
// the symmetric blocks' (see the int4 pass header, src/passes/quantize_int4.cpp).
struct AffineBlocks {
  Tensor q;                  // uint4 [rows, width], packed
  std::vector<float> scale;  // [rows, width / block_size]
  std::vector<float> zero;   // same layout
  double rel_error = 0;
};
AffineBlocks quantize_affine_blocks(const Tensor& w, int64_t block_size, ThreadPool* pool = nullptr);

// float32 <-> float16 (IEEE binary16): round to nearest even, subnormals kept, overflow to inf,
// NaN stays NaN (quiet, sign and top payload bits kept).
uint16_t float_to_half_ref(float x);
float half_to_float_ref(uint16_t h);
// A whole f32 tensor as f16 (same shape).
Tensor to_float16(const Tensor& f32, ThreadPool* pool = nullptr);

}  // namespace mcompress::quant
