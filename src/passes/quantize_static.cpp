// Static int8: QDQ (or QOperator) from calibration data run through mcompress's
// executor.
//
//   Before: a float model (BatchNorm folded and Constant weights moved here,
//   opset raised to 13) After:  QuantizeLinear -> DequantizeLinear pairs on the
//   activations the plan marks
//           (qdq_plan.h), int8 per-channel weights and int32 biases behind
//           DequantizeLinear, the absorbed Relu / Clip removed; --format
//           qoperator then lowers the fusable groups to QLinearConv /
//           QLinearMatMul / QGemm (qoperator.h).
//   Math:   activations asymmetric over the calibrated range (u8, or i8);
//   weights symmetric int8
//           (zero point 0) per output channel; bias scale = input scale *
//           weight scale[c], zero point 0, int32 (what the integer kernels add
//           to their int32 accumulators).
//   Report: one progress line per weight, then one per quantized layer with its
//   output SQNR
//           against the float model on the first calibration samples
//           (extra["layers"]).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "mcompress/exec/executor.h"
#include "mcompress/passes/cleanup.h"
#include "mcompress/passes/opset_upgrade.h"
#include "mcompress/passes/quantize.h"
#include "mcompress/quant/calibrate.h"
#include "mcompress/quant/quant.h"
#include "mcompress/report/fidelity.h"
#include "mcompress/support/error.h"
#include "names.h"
#include "qdq_plan.h"
#include "qoperator.h"

namespace mcompress::passes {

namespace {

constexpr int64_t kQdqOpset = 13;  // per-axis QuantizeLinear / DequantizeLinear
constexpr int64_t kSqnrSamples = 4;

static_assert(static_cast<int>(CalibMethod::mse) == static_cast<int>(quant::CalibrationMethod::mse) &&
                  static_cast<int>(CalibMethod::entropy) == static_cast<int>(quant::CalibrationMethod::entropy),
              "the option enum and the calibrator enum list the methods in the "
              "same order");

std::map<std::string, const Tensor*> feeds_of(const data::Dataset& ds, const std::vector<Tensor>& batch) {
  std::map<std::string, const Tensor*> feeds;
  for (size_t i = 0; i < batch.size(); ++i) feeds[ds.inputs[i].name] = &batch[i];
  return feeds;
}

// Batches [begin, count) over the first `samples` samples (the whole file once
// when it is one batch).
template <typename F>
void for_each_batch(const data::Dataset& ds, int64_t samples, int64_t batch_size, F&& f) {
  if (ds.whole_batch) return f(ds.batch(0, ds.samples));
  for (int64_t begin = 0; begin < samples; begin += batch_size)
    f(ds.batch(begin, std::min(batch_size, samples - begin)));
}

std::map<std::string, quant::Range> calibrate(const ir::Model& model, const QdqPlan& plan, const QuantizeOptions& o,
                                              const data::Dataset& ds, int64_t samples) {
  quant::CalibrationOptions co;
  co.method = static_cast<quant::CalibrationMethod>(o.calib_method);
  co.percentile = o.percentile;
  std::map<std::string, std::unique_ptr<quant::Calibrator>> calibrators;
  for (const auto& name : plan.calibrated()) calibrators[name] = quant::make_calibrator(co);
  exec::Executor executor(model, {o.threads});
  quant::CalibrationObserver observer(calibrators);
  for_each_batch(ds, samples, std::max<int64_t>(o.calib_batch_size, 1), [&](const std::vector<Tensor>& batch) {
    auto feeds = feeds_of(ds, batch);
    for (const auto& [name, t] : feeds)  // graph inputs are fed, not computed: the
                                         // observer never sees them
      if (auto it = calibrators.find(name); it != calibrators.end()) it->second->collect(*t);
    executor.run(feeds, &observer);
  });
  std::map<std::string, quant::Range> ranges;
  for (const auto& [name, c] : calibrators) ranges[name] = c->range();
  return ranges;
}

// A QuantizeLinear / DequantizeLinear node; `axis` for per-channel parameters.
ir::Node qdq_node(const char* op, std::string name, std::vector<std::string> inputs, std::string output,
                  std::optional<int64_t> axis = std::nullopt) {
  ir::Node n;
  n.op_type = op;
  n.name = std::move(name);
  n.inputs = std::move(inputs);
  n.outputs = {std::move(output)};
  if (!axis) return n;
  ir::Attribute& a = n.attributes.emplace_back();
  a.name = "axis";
  a.type = ir::AttrType::i;
  a.i = *axis;
  return n;
}

template <typename T>
Tensor vector_tensor(DType dtype, const std::vector<T>& values, bool scalar) {
  Shape shape = scalar ? Shape{} : Shape{static_cast<int64_t>(values.size())};
  return Tensor::from_values<T>(dtype, shape, values);
}

Tensor zero_points(DType dtype, const std::vector<int32_t>& zp, bool scalar) {
  if (dtype == DType::u8) return vector_tensor<uint8_t>(dtype, std::vector<uint8_t>(zp.begin(), zp.end()), scalar);
  if (dtype == DType::i8) return vector_tensor<int8_t>(dtype, std::vector<int8_t>(zp.begin(), zp.end()), scalar);
  return vector_tensor<int32_t>(dtype, zp, scalar);
}

struct Layer {
  std::string name, op_type;
  std::string float_output, quant_output;
};

class Emitter {
 public:
  Emitter(ir::Model& model, const QdqPlan& plan, const std::map<std::string, quant::Range>& ranges,
          const QuantizeOptions& o, PassResult& result, const ProgressFn& progress)
      : g_(model.graph), plan_(plan), o_(o), names_(model.graph), result_(result), progress_(progress) {
    for (auto& t : g_.initializers) inits_[t.name] = &t.tensor;
    for (const auto& [name, r] : ranges) act_[name] = quant::params_from_range(r.lo, r.hi, o.activation_type, false);
    for (const auto& [tensor, source] : plan.marked) dq_[tensor] = names_.fresh(tensor + "_dequantized");
    for (const auto& cp : plan.compute) by_node_[cp.node] = &cp;
  }

  std::vector<Layer> run() {
    std::set<size_t> absorbed;
    for (const auto& cp : plan_.compute)
      if (cp.absorbed) absorbed.insert(*cp.absorbed);
    std::vector<ir::Node> body;
    for (const auto& in : g_.inputs)
      if (plan_.marked.count(in.name)) emit_pair(in.name, body);
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (absorbed.count(i)) continue;
      ir::Node node = g_.nodes[i];
      for (auto& in : node.inputs)
        if (auto it = dq_.find(in); it != dq_.end()) in = it->second;
      if (auto it = by_node_.find(i); it != by_node_.end()) rewrite_compute(*it->second, node);
      std::vector<std::string> outputs = node.outputs;
      body.push_back(std::move(node));
      for (const auto& out : outputs)
        if (plan_.marked.count(out)) emit_pair(out, body);
    }
    std::vector<ir::Node> nodes = std::move(weight_nodes_);
    std::move(body.begin(), body.end(), std::back_inserter(nodes));
    g_.nodes = std::move(nodes);
    for (auto& t : new_inits_) g_.initializers.push_back(std::move(t));
    remove_dead(g_);
    return std::move(layers_);
  }

 private:
  // Scale and zero point initializers of an activation's parameter source, made
  // once.
  std::pair<std::string, std::string> act_params(const std::string& source) {
    auto it = act_names_.find(source);
    if (it != act_names_.end()) return it->second;
    const quant::QuantParams& p = act_.at(source);
    std::string s = names_.fresh(source + "_scale"), z = names_.fresh(source + "_zero_point");
    new_inits_.push_back(named_tensor(s, vector_tensor<float>(DType::f32, p.scale, true)));
    new_inits_.push_back(named_tensor(z, zero_points(p.dtype, p.zero_point, true)));
    return act_names_[source] = {s, z};
  }

  void emit_pair(const std::string& tensor, std::vector<ir::Node>& out) {
    auto [s, z] = act_params(plan_.marked.at(tensor));
    std::string q = names_.fresh(tensor + "_quantized");
    out.push_back(qdq_node("QuantizeLinear", names_.fresh(tensor + "_QuantizeLinear"), {tensor, s, z}, q));
    out.push_back(qdq_node("DequantizeLinear", names_.fresh(tensor + "_DequantizeLinear"), {q, s, z}, dq_.at(tensor)));
  }

  // int8 symmetric weight (per channel along `axis`, or per tensor) behind a
  // DequantizeLinear.
  std::string emit_weight(const std::string& name, int64_t axis, const ir::Node& node, quant::QuantParams& params) {
    const Tensor& w = *inits_.at(name);
    bool per_channel = o_.granularity.value_or(Granularity::channel) != Granularity::tensor;
    params = quant::choose_params(w, DType::i8, true, per_channel ? axis : -1);
    auto key = std::make_pair(name, params.axis);
    if (auto it = weights_.find(key); it != weights_.end()) return it->second;
    quant::Quantized qw = quant::quantize_measured(w, params);
    std::string q = names_.fresh(name + "_quantized"), s = names_.fresh(name + "_scale"),
                z = names_.fresh(name + "_zero_point"), dq = names_.fresh(name + "_dequantized");
    new_inits_.push_back(named_tensor(q, std::move(qw.q)));
    new_inits_.push_back(named_tensor(s, vector_tensor<float>(DType::f32, params.scale, !per_channel)));
    new_inits_.push_back(named_tensor(z, zero_points(DType::i8, params.zero_point, !per_channel)));
    weight_nodes_.push_back(qdq_node("DequantizeLinear", names_.fresh(name + "_DequantizeLinear"), {q, s, z}, dq,
                                     per_channel ? std::optional<int64_t>(params.axis) : std::nullopt));
    report::TensorChange change;
    change.name = name;
    change.op_type = node.op_type;
    change.action = per_channel ? "int8/ch" : "int8";
    change.bytes_before = w.nbytes();
    change.bytes_after = w.numel() + static_cast<int64_t>(params.scale.size()) * 5;  // int8 + scale + zero point
    change.rel_error = qw.rel_error;
    result_.changes.push_back(change);
    if (progress_)
      progress_(format_progress(result_.changes.size(), plan_.compute.size(), change, w.shape(), "f32",
                                per_channel ? "int8/ch" : "int8"));
    return weights_[key] = dq;
  }

  // int32 bias with scale input_scale * weight_scale[c] and zero point 0.
  std::string emit_bias(const std::string& name, float input_scale, const quant::QuantParams& wp) {
    const Tensor& b = *inits_.at(name);
    const int64_t n = b.numel();
    std::vector<float> scale(n);
    std::vector<int32_t> q(n);
    for (int64_t c = 0; c < n; ++c) {
      scale[c] = input_scale * wp.scale[wp.scale.size() == 1 ? 0 : c];
      double v = std::nearbyint(static_cast<double>(b.data<float>()[c]) / scale[c]);
      q[c] = static_cast<int32_t>(
          std::clamp<double>(v, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
    }
    std::string qn = names_.fresh(name + "_quantized"), s = names_.fresh(name + "_scale"),
                z = names_.fresh(name + "_zero_point"), dq = names_.fresh(name + "_dequantized");
    new_inits_.push_back(named_tensor(qn, vector_tensor<int32_t>(DType::i32, q, false)));
    new_inits_.push_back(named_tensor(s, vector_tensor<float>(DType::f32, scale, false)));
    new_inits_.push_back(named_tensor(z, vector_tensor<int32_t>(DType::i32, std::vector<int32_t>(n, 0), false)));
    weight_nodes_.push_back(qdq_node("DequantizeLinear", names_.fresh(name + "_DequantizeLinear"), {qn, s, z}, dq, 0));
    return dq;
  }

  void rewrite_compute(const ComputePlan& cp, ir::Node& node) {
    const ir::Node& original = g_.nodes[cp.node];
    quant::QuantParams wp;
    node.inputs[1] = emit_weight(original.inputs[1], cp.weight_axis, original, wp);
    if (node.inputs.size() > 2 && !node.inputs[2].empty()) {
      const std::string& source = plan_.marked.at(original.inputs[0]);
      node.inputs[2] = emit_bias(original.inputs[2], act_.at(source).scale[0], wp);
    }
    node.outputs[0] = cp.output;
    auto dq = dq_.find(cp.output);
    layers_.push_back({original.label(), original.op_type, cp.output, dq == dq_.end() ? cp.output : dq->second});
  }

  ir::Graph& g_;
  const QdqPlan& plan_;
  const QuantizeOptions& o_;
  UniqueNames names_;
  PassResult& result_;
  const ProgressFn& progress_;
  std::map<std::string, const Tensor*> inits_;
  std::map<std::string, quant::QuantParams> act_;
  std::map<std::string, std::pair<std::string, std::string>> act_names_;
  std::map<std::string, std::string> dq_;
  std::map<size_t, const ComputePlan*> by_node_;
  std::map<std::pair<std::string, int64_t>, std::string> weights_;
  std::vector<ir::Node> weight_nodes_;
  std::vector<ir::NamedTensor> new_inits_;
  std::vector<Layer> layers_;
};

// Keeps the watched values of one run (the float model's), then compares the
// next run's with them.
class LayerRecorder : public exec::Observer {
 public:
  explicit LayerRecorder(std::map<std::string, Tensor>& store) : store_(store) {}
  void on_value(const std::string& name, const Tensor& value, const ir::Node&) override {
    if (auto it = store_.find(name); it != store_.end()) it->second = value;
  }

 private:
  std::map<std::string, Tensor>& store_;
};

class LayerComparer : public exec::Observer {
 public:
  LayerComparer(std::map<std::string, Tensor>& reference, std::map<std::string, std::vector<size_t>>& layers_of,
                std::vector<report::OutputFidelity>& fidelity, const std::vector<Layer>& layers)
      : reference_(reference), layers_of_(layers_of), fidelity_(fidelity), layers_(layers) {}
  void on_value(const std::string& name, const Tensor& value, const ir::Node&) override {
    auto it = layers_of_.find(name);
    if (it == layers_of_.end()) return;
    for (size_t l : it->second) {
      const Tensor& ref = reference_.at(layers_[l].float_output);
      if (!ref.empty() && ref.shape() == value.shape()) fidelity_[l].add(ref, value);
    }
  }

 private:
  std::map<std::string, Tensor>& reference_;
  std::map<std::string, std::vector<size_t>>& layers_of_;
  std::vector<report::OutputFidelity>& fidelity_;
  const std::vector<Layer>& layers_;
};

void layer_sqnr(const ir::Model& float_model, const ir::Model& quantized, const std::vector<Layer>& layers,
                const data::Dataset& ds, int64_t samples, const QuantizeOptions& o, PassResult& result,
                const ProgressFn& progress) {
  std::map<std::string, Tensor> reference;
  std::map<std::string, std::vector<size_t>> layers_of;
  for (size_t l = 0; l < layers.size(); ++l) {
    reference[layers[l].float_output];
    layers_of[layers[l].quant_output].push_back(l);
  }
  std::vector<report::OutputFidelity> fidelity(layers.size());
  exec::Executor fe(float_model, {o.threads}), qe(quantized, {o.threads});
  LayerRecorder recorder(reference);
  LayerComparer comparer(reference, layers_of, fidelity, layers);
  // One sample per run keeps only one sample's layer outputs alive.
  for_each_batch(ds, std::min(samples, kSqnrSamples), 1, [&](const std::vector<Tensor>& batch) {
    auto feeds = feeds_of(ds, batch);
    fe.run(feeds, &recorder);
    qe.run(feeds, &comparer);
    for (auto& [name, t] : reference) t = Tensor();
  });
  auto& rows = result.extra["layers"] = nlohmann::ordered_json::array();
  for (size_t l = 0; l < layers.size(); ++l) {
    double sqnr = fidelity[l].sqnr_db();
    rows.push_back({{"name", layers[l].name},
                    {"op_type", layers[l].op_type},
                    {"sqnr_db", std::isfinite(sqnr) ? nlohmann::ordered_json(sqnr) : nlohmann::ordered_json("inf")}});
    if (progress) progress(fmt::format("layer {} ({}) output SQNR {:.1f} dB", layers[l].name, layers[l].op_type, sqnr));
  }
}

}  // namespace

PassResult quantize_static(ir::Model& model, const QuantizeOptions& options, const data::Dataset& calibration,
                           const ProgressFn& progress) {
  if (options.activation_type != DType::u8 && options.activation_type != DType::i8)
    throw_usage("static quantization: activations are uint8 or int8, not {}", dtype_info(options.activation_type).name);
  int64_t samples =
      options.calib_samples > 0 ? std::min(options.calib_samples, calibration.samples) : calibration.samples;
  if (samples <= 0) throw_bad_input("{}: no samples to calibrate on", calibration.source);

  PassResult result = cleanup(model);
  int64_t opset_before = model.opset("");
  if (upgrade_opset(model, kQdqOpset) > 0 || model.opset("") != opset_before)
    result.warnings.push_back(
        fmt::format("opset raised from {} to {} (QuantizeLinear / "
                    "DequantizeLinear per axis)",
                    opset_before, kQdqOpset));

  NameFilter filter(options.exclude);
  QdqPlan plan = plan_qdq(model.graph, options.op_types, filter);
  if (plan.compute.empty()) {
    result.warnings.push_back(
        "static quantization: no Conv, Gemm or MatMul "
        "with a constant float weight to quantize");
    return result;
  }
  auto ranges = calibrate(model, plan, options, calibration, samples);
  ir::Model float_model = model;
  std::vector<Layer> layers = Emitter(model, plan, ranges, options, result, progress).run();
  layer_sqnr(float_model, model, layers, calibration, samples, options, result, progress);
  result.extra["calibration"] = {
      {"method", std::array{"minmax", "percentile", "entropy", "mse"}[static_cast<int>(options.calib_method)]},
      {"samples", calibration.whole_batch ? calibration.samples : samples},
      {"tensors", ranges.size()}};
  result.extra["activations_quantized"] = plan.marked.size();
  if (options.format == QuantFormat::qoperator) result.extra["qoperator"] = lower_to_qoperator(model);
  return result;
}

}  // namespace mcompress::passes
