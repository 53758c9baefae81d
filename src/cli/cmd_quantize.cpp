// mcompress quantize MODEL [--bits 8|4|16] [--mode weight|dynamic|static] [--calib DATA] ...
#include <fmt/format.h>

#include <map>
#include <memory>

#include "common.h"
#include "mcompress/data/dataset.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/passes/quantize.h"
#include "mcompress/support/error.h"
#include "mcompress/support/log.h"

namespace mcompress::cli {
namespace {

struct QuantizeCliOptions {
  std::string model;
  OutputOptions output;
  ReportOptions report;
  GateOptions gates;
  passes::QuantizeOptions quant;
  std::string calib;
  std::string preprocess;
  int64_t seed = 0;
};

const std::map<std::string, passes::QuantMode> kModes = {
    {"weight", passes::QuantMode::weight}, {"dynamic", passes::QuantMode::dynamic}, {"static", passes::QuantMode::static_}};
const std::map<std::string, passes::QuantFormat> kFormats = {{"qdq", passes::QuantFormat::qdq},
                                                             {"qoperator", passes::QuantFormat::qoperator}};
const std::map<std::string, passes::Granularity> kGranularities = {
    {"tensor", passes::Granularity::tensor}, {"channel", passes::Granularity::channel}, {"block", passes::Granularity::block}};
const std::map<std::string, passes::CalibMethod> kCalibMethods = {{"minmax", passes::CalibMethod::minmax},
                                                                  {"percentile", passes::CalibMethod::percentile},
                                                                  {"entropy", passes::CalibMethod::entropy},
                                                                  {"mse", passes::CalibMethod::mse},
                                                                  {"auto", passes::CalibMethod::auto_}};
const std::map<std::string, passes::WeightForm> kWeightForms = {{"dequantize", passes::WeightForm::dequantize_linear},
                                                                {"cast-mul", passes::WeightForm::cast_mul}};
const std::map<std::string, DType> kActivationTypes = {{"uint8", DType::u8}, {"int8", DType::i8}};

std::string_view output_suffix(int bits) {
  if (bits == 4) return "int4";
  if (bits == 16) return "fp16";
  return "int8";
}

// The model's real inputs (initializers listed as inputs are not fed).
std::vector<ir::ValueInfo> fed_inputs(const ir::Graph& g) {
  std::vector<ir::ValueInfo> inputs;
  for (const auto& in : g.inputs) {
    bool is_init = std::any_of(g.initializers.begin(), g.initializers.end(), [&](const auto& t) { return t.name == in.name; });
    if (!is_init) inputs.push_back(in);
  }
  return inputs;
}

void run_quantize(QuantizeCliOptions& options) {
  passes::QuantizeOptions& q = options.quant;
  const bool have_calib = !options.calib.empty();
  const passes::QuantMode mode = q.effective_mode(have_calib);
  q.validate();
  if (have_calib && mode != passes::QuantMode::static_)
    throw_usage("--calib: calibration data is only used by --mode static");
  if (mode == passes::QuantMode::static_ && !have_calib) throw_usage("--mode static needs --calib DATA");

  ModelRun run{"quantize", options.model, std::string(output_suffix(q.bits)), &options.output, &options.report,
               &options.gates, q.threads};
  run_on_model(run, [&](ir::Model& model, report::Report& r) {
    passes::ProgressFn progress = [](std::string_view line) { log::info("{}", line); };
    passes::PassResult result;
    try {
      if (mode == passes::QuantMode::static_) {
        auto preprocess = data::Preprocess::parse(options.preprocess);
        data::Dataset calibration = data::load_dataset(options.calib, fed_inputs(model.graph), preprocess);
        result = passes::quantize_static(model, q, calibration, progress);
      } else {
        result = passes::quantize_weights(model, q, progress);
      }
    } catch (const Error& e) {
      if (e.code() == ExitCode::usage) throw;
      throw Error(e.code(), fmt::format("{}: {}", options.model, e.what()));
    }
    int64_t before = 0, after = 0;
    for (const auto& c : result.changes) {
      before += c.bytes_before;
      after += c.bytes_after;
    }
    log::info("{} tensors: {} -> {}", result.changes.size(), passes::format_bytes(before), passes::format_bytes(after));
    r.changes = std::move(result.changes);
    r.warnings = std::move(result.warnings);
    r.extra["bits"] = q.bits;
    r.extra["mode"] = q.bits == 16 ? "fp16" : (q.bits == 4 ? "int4" : mode == passes::QuantMode::dynamic ? "dynamic" : mode == passes::QuantMode::static_ ? "static" : "weight");
    for (auto& [k, v] : result.extra.items()) r.extra[k] = v;
  });
}

}  // namespace

void register_quantize(CLI::App& app) {
  auto options = std::make_shared<QuantizeCliOptions>();
  passes::QuantizeOptions& q = options->quant;
  CLI::App* cmd = app.add_subcommand("quantize", "int8 (weight-only, dynamic, static), int4 or float16");
  cmd->add_option("MODEL", options->model, "ONNX model")->required();
  add_output_options(*cmd, options->output);
  cmd->add_option("--bits", q.bits, "8 (int8), 4 (int4 MatMulNBits) or 16 (float16)")->check(CLI::IsMember({8, 4, 16}));
  add_choice(*cmd, "--mode", q.mode, kModes, "weight | dynamic | static (default: weight, static with --calib)");
  add_choice(*cmd, "--format", q.format, kFormats, "Static output: qdq (default) or qoperator");
  add_choice(*cmd, "--granularity", q.granularity, kGranularities,
             "Weight scales per tensor | channel | block (default: channel for 8 bits, block for 4)");
  cmd->add_option("--block-size", q.block_size, "4 bits: weights per scale, a power of two 16..256 (default 32)");
  auto* asym = cmd->add_flag_callback("--asymmetric", [&q] { q.asymmetric = true; },
                                      "Weights with zero points (default for --bits 4 and --mode weight)");
  cmd->add_flag_callback("--symmetric", [&q] { q.asymmetric = false; }, "Weights without zero points (default for the integer kernels: dynamic, static)")
      ->excludes(asym);
  add_choice(*cmd, "--weight-form", q.weight_form, kWeightForms,
             "--mode weight: dequantize (DequantizeLinear, default; ONNX Runtime dequantizes on every run) or "
             "cast-mul (Cast + Mul, folded once at load: float32 speed)");
  cmd->add_option("--op-types", q.op_types,
                  "Only these op types, comma separated (e.g. MatMul,Gemm; --mode weight default: Conv, ConvTranspose, "
                  "Gemm, MatMul, LSTM, GRU, RNN); --mode dynamic emits ConvInteger only when Conv is named")
      ->delimiter(',');
  cmd->add_option("--exclude", q.exclude, "Leave node or weight names matching this regex untouched (repeatable)");
  cmd->add_option("--threads", q.threads, "Worker threads (default: all cores); output does not depend on it")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", options->seed, "Seed for anything random (default 0)");
  cmd->add_option("--calib", options->calib, "Calibration samples (same formats as --data): static quantization");
  add_choice(*cmd, "--calib-method", q.calib_method, kCalibMethods, "auto (default: the one whose output is closest to float on the calibration data) | minmax | percentile | entropy | mse");
  cmd->add_option("--calib-samples", q.calib_samples, "Use the first N calibration samples (default: all)");
  cmd->add_option("--percentile", q.percentile, "--calib-method percentile: the percentile kept (default 99.999)");
  add_choice(*cmd, "--activation-type", q.activation_type, kActivationTypes, "Static activations: uint8 (default) or int8");
  cmd->add_option("--preprocess", options->preprocess, "Calibration preprocessing, e.g. scale=0.00392157,mean=0.2860,std=0.3530");
  cmd->add_option("--batch-size", q.calib_batch_size, "Calibration samples per forward pass")->check(CLI::PositiveNumber);
  cmd->add_option("--min-layer-sqnr", q.min_layer_sqnr_db,
                  "Static: keep a layer float when its own int8 output SQNR is below this many dB (default 25; 0: off)")
      ->check(CLI::NonNegativeNumber);
  add_gate_options(*cmd, options->gates);
  add_report_options(*cmd, options->report);
  cmd->fallthrough();
  cmd->callback([options] { run_quantize(*options); });
}

}  // namespace mcompress::cli
