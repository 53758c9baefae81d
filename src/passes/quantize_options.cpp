// QuantizeOptions: the one place where flag combinations are checked.
#include "mcompress/passes/quantize.h"
#include "mcompress/support/error.h"

namespace mcompress::passes {

QuantMode QuantizeOptions::effective_mode(bool have_calibration) const {
  if (mode) return *mode;
  return have_calibration ? QuantMode::static_ : QuantMode::weight;
}

void QuantizeOptions::validate() const {
  if (bits != 8 && bits != 4 && bits != 16) throw_usage("--bits {}: expected 8, 4 or 16", bits);
  bool is_static = mode == QuantMode::static_;
  if (bits != 8 && is_static) throw_usage("--bits {} --mode static: static quantization is 8-bit only", bits);
  if (bits != 8 && mode == QuantMode::dynamic) throw_usage("--bits {} --mode dynamic: dynamic quantization is 8-bit only", bits);
  if (bits == 4 && (block_size < 16 || block_size > 256 || (block_size & (block_size - 1)) != 0))
    throw_usage("--block-size {}: expected a power of two from 16 to 256", block_size);
  if (granularity == Granularity::block && bits != 4)
    throw_usage("--granularity block: blocks are for --bits 4 (int8 is per tensor or per channel)");
  if (bits == 4 && granularity && granularity != Granularity::block)
    throw_usage("--bits 4: MatMulNBits is blocked; --granularity must be block");
  if (bits == 16 && (granularity || asymmetric))
    throw_usage("--bits 16 (float16) takes no --granularity, --asymmetric or --symmetric");
  if (format == QuantFormat::qoperator && mode && !is_static)
    throw_usage("--format qoperator: only for --mode static (dynamic already emits ONNX Runtime's QOperator form)");
  if (activation_type != DType::u8 && activation_type != DType::i8)
    throw_usage("activation type {}: expected uint8 or int8", dtype_name(activation_type));
  if (weight_form != WeightForm::dequantize_linear && (bits != 8 || (mode && mode != QuantMode::weight)))
    throw_usage("--weight-form: only for --mode weight (int8)");
  if (calib_samples < 0) throw_usage("--calib-samples {}: expected 0 (all) or more", calib_samples);
  if (calib_batch_size <= 0) throw_usage("--batch-size {}: expected a positive number", calib_batch_size);
  if (!(percentile > 0 && percentile <= 100)) throw_usage("--percentile {}: expected (0, 100]", percentile);
  if (threads < 0) throw_usage("--threads {}: expected 0 (all cores) or more", threads);
}

}  // namespace mcompress::passes
