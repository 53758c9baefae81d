#pragma once
// Quantization math shared by every quantizing pass: how scales and zero points are chosen, and
// the reference quantize / dequantize. Formats are rows of one traits table (int8, uint8, int4,
// uint4); per-tensor, per-channel (an axis) and per-block (blocks of `block_size` along an axis).
#include <cstdint>
#include <vector>

#include "mcompress/tensor/tensor.h"

namespace mcompress::quant {

struct QuantParams {
  DType dtype = DType::i8;          // i8, u8, i4 or u4
  std::vector<float> scale;         // 1 (per tensor), dim[axis] (per channel) or blocks
  std::vector<int32_t> zero_point;  // same length as scale
  int64_t axis = -1;                // -1: per tensor
  int64_t block_size = 0;           // 0: not blocked; else blocks along `axis`
};

// Scale and zero point that map [lo, hi] (widened to include 0) onto dtype's range; symmetric
// uses max(|lo|, |hi|) with zero point 0 (int) or the middle (uint). A zero range gives scale 1.
QuantParams params_from_range(float lo, float hi, DType dtype, bool symmetric);

// Weights: per tensor (axis -1), per channel along `axis`, or per block of `block_size` along
// `axis`; ranges from min/max of each group.
QuantParams choose_params(const Tensor& w, DType dtype, bool symmetric, int64_t axis = -1, int64_t block_size = 0);

// round-half-to-even(x / scale) + zero point, saturated to dtype's range. Output dtype = params.dtype.
Tensor quantize(const Tensor& w, const QuantParams& params);
// (q - zero point) * scale, as float32 with q's shape.
Tensor dequantize(const Tensor& q, const QuantParams& params);

// ||w - dequantize(quantize(w))|| / ||w|| (0 for an all-zero w).
double relative_error(const Tensor& w, const QuantParams& params);

}  // namespace mcompress::quant
