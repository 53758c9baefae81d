#pragma once
// mcompress quantize: the options the CLI binds, and the two entry points (weights only, and
// static with calibration data). What each mode emits: docs/ARCHITECTURE.md.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mcompress/data/dataset.h"
#include "mcompress/ir/graph.h"
#include "mcompress/passes/pass.h"
#include "mcompress/tensor/dtype.h"

namespace mcompress::passes {

enum class QuantMode { weight, dynamic, static_ };
enum class QuantFormat { qdq, qoperator };
enum class Granularity { tensor, channel, block };
// auto: calibrate once (histograms), then keep the method whose quantized model's output is
// closest to the float model's on the calibration samples.
enum class CalibMethod { minmax, percentile, entropy, mse, auto_ };
// How --mode weight dequantizes: DequantizeLinear (ONNX Runtime keeps it and dequantizes on every
// run), or Cast + Mul (folded once when the session loads: float32 speed and run-time memory).
enum class WeightForm { dequantize_linear, cast_mul };

struct QuantizeOptions {
  int bits = 8;                              // 8, 4 or 16 (fp16)
  std::optional<QuantMode> mode;             // unset: weight, or static when calibration data is given
  QuantFormat format = QuantFormat::qdq;     // static only
  std::optional<Granularity> granularity;    // unset: channel for 8 bits, block for 4
  int64_t block_size = 32;                   // 4 bits: 16..256, a power of two
  // Weights with zero points (--asymmetric) or without (--symmetric). Unset: zero points where the
  // compute stays float, int4 (ViT +1.8 dB output SQNR, CNN +3 dB, PaddleOCR rec +5 dB) and
  // weight-only int8 (PaddleOCR rec cosine 0.975 -> 0.9985, det 0.989 -> 0.9988 on glyph pages; the
  // bundled CNN / ViT unchanged at ~46 dB); symmetric for the integer kernels (dynamic, static).
  // Activations are asymmetric u8 unless int8.
  std::optional<bool> asymmetric;
  DType activation_type = DType::u8;         // static: u8 or i8
  CalibMethod calib_method = CalibMethod::auto_;
  int64_t calib_samples = 0;                 // 0 = all of --calib
  int64_t calib_batch_size = 32;
  double percentile = 99.999;                // --calib-method percentile
  // static: a layer whose own int8 output (int8 input, weights and output; the rest float) has a
  // per-channel SQNR below this stays float. 0 quantizes every layer the placement allows.
  double min_layer_sqnr_db = 25.0;
  WeightForm weight_form = WeightForm::dequantize_linear;  // --mode weight only
  std::vector<std::string> op_types;         // empty: the mode's default set
  std::vector<std::string> exclude;          // --exclude regexes over node and weight names
  int threads = 0;                           // 0 = all cores; output does not depend on it

  QuantMode effective_mode(bool have_calibration) const;
  // `float_compute`: the weight is dequantized and read by a float op (weight-only form).
  bool asymmetric_weights(bool float_compute) const { return asymmetric.value_or(bits == 4 || float_compute); }
  // Throws usage errors naming the flag (e.g. --block-size 48, --bits 4 --mode static).
  void validate() const;
};

// weight-only int8, dynamic int8, int4 (MatMulNBits) and fp16: no data needed.
PassResult quantize_weights(ir::Model& model, const QuantizeOptions& options, const ProgressFn& progress = {});

// Static int8 (QDQ or QOperator) from calibration data run through mcompress's executor.
PassResult quantize_static(ir::Model& model, const QuantizeOptions& options, const data::Dataset& calibration,
                           const ProgressFn& progress = {});

}  // namespace mcompress::passes
