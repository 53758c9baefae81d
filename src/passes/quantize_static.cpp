// Static int8: QDQ (or QOperator) from calibration data run through mcompress's executor.
//
//   Before: a float model (BatchNorm folded and Constant weights moved here, opset raised to 13)
//   After:  QuantizeLinear -> DequantizeLinear pairs on the activations the plan marks
//           (qdq_plan.h), int8 per-channel weights and int32 biases behind DequantizeLinear, the
//           absorbed Relu / Clip removed; layers whose own int8 error is too large stay float;
//           --format qoperator then lowers the fusable groups (qoperator.h).
//   Math:   activations asymmetric over the calibrated range (u8, or i8); weights symmetric int8
//           (zero point 0) per output channel; bias scale = input scale * weight scale[c], zero
//           point 0, int32 (what the integer kernels add to their int32 accumulators).
//   Report: one progress line per weight, then one per quantized layer with its output SQNR
//           against the float model on the first calibration samples (extra["layers"]).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>
#include <limits>
#include <optional>
#include <set>

#include "graph_edit.h"
#include "mcompress/exec/executor.h"
#include "mcompress/passes/cleanup.h"
#include "mcompress/passes/opset_upgrade.h"
#include "mcompress/passes/quantize.h"
#include "mcompress/quant/calibrate.h"
#include "mcompress/quant/quant.h"
#include "mcompress/report/fidelity.h"
#include "mcompress/support/error.h"
#include "qdq_plan.h"
#include "qoperator.h"
#include "quantize_rewriter.h"

namespace mcompress::passes {

namespace {

constexpr int64_t kQdqOpset = 13;  // per-axis QuantizeLinear / DequantizeLinear
constexpr int64_t kSqnrSamples = 4;
// --calib-method auto compares the methods' model outputs on the first kAutoSamples samples and
// takes a later method only when it is better by a margin (a larger one when it leaves more layers
// float, which costs speed).
constexpr int64_t kAutoSamples = 8;
constexpr double kAutoMarginDb = 0.05;
constexpr double kAutoMarginSlowerDb = 0.5;

constexpr std::array<const char*, 5> kMethodNames = {"minmax", "percentile", "entropy", "mse", "auto"};
constexpr std::array<CalibMethod, 4> kAutoCandidates = {CalibMethod::minmax, CalibMethod::percentile,
                                                        CalibMethod::entropy, CalibMethod::mse};

static_assert(static_cast<int>(CalibMethod::mse) == static_cast<int>(quant::CalibrationMethod::mse) &&
                  static_cast<int>(CalibMethod::entropy) == static_cast<int>(quant::CalibrationMethod::entropy),
              "the option enum and the calibrator enum list the methods in the same order");

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

// --batch-size, but never more than an input's fixed leading dimension (an export with batch 1).
int64_t batch_size(const data::Dataset& ds, const QuantizeOptions& o) {
  int64_t n = std::max<int64_t>(o.calib_batch_size, 1);
  for (const auto& in : ds.inputs) {
    if (!in.type || !in.type->shape || in.type->shape->empty()) continue;
    const auto& first = in.type->shape->front();
    if (first.value && *first.value > 0) n = std::min(n, *first.value);
  }
  return n;
}

using Calibrators = std::map<std::string, std::unique_ptr<quant::Calibrator>>;

quant::CalibrationOptions calibration_options(const QuantizeOptions& o, CalibMethod method) {
  quant::CalibrationOptions co;
  co.method = static_cast<quant::CalibrationMethod>(method);
  co.percentile = o.percentile;
  return co;
}

// Runs the calibration samples through the float model, feeding one calibrator per tensor the plan
// needs a range for. `method` auto: histograms, which answer every method.
Calibrators collect(const ir::Model& model, const std::vector<std::string>& names, const QuantizeOptions& o,
                    CalibMethod method, const data::Dataset& ds, int64_t samples) {
  auto co = calibration_options(o, method == CalibMethod::auto_ ? CalibMethod::percentile : method);
  Calibrators calibrators;
  for (const auto& name : names) calibrators[name] = quant::make_calibrator(co);
  exec::Executor executor(model, {o.threads});
  quant::CalibrationObserver observer(calibrators);
  for_each_batch(ds, samples, batch_size(ds, o), [&](const std::vector<Tensor>& batch) {
    auto feeds = feeds_of(ds, batch);
    for (const auto& [name, t] : feeds)  // graph inputs are fed, not computed: the
                                         // observer never sees them
      if (auto it = calibrators.find(name); it != calibrators.end()) it->second->collect(*t);
    executor.run(feeds, &observer);
  });
  return calibrators;
}

std::map<std::string, quant::Range> ranges_as(const Calibrators& calibrators, const QuantizeOptions& o, CalibMethod method) {
  auto co = calibration_options(o, method);
  std::map<std::string, quant::Range> ranges;
  for (const auto& [name, c] : calibrators) ranges[name] = *c->range_as(co.method, co);
  return ranges;
}

std::map<std::string, quant::Range> calibrate(const ir::Model& model, const std::vector<std::string>& names,
                                              const QuantizeOptions& o, CalibMethod method, const data::Dataset& ds,
                                              int64_t samples) {
  return ranges_as(collect(model, names, o, method, ds, samples), o, method);
}

// A QuantizeLinear / DequantizeLinear node; `axis` for per-channel parameters.
ir::Node qdq_node(const char* op, std::string name, std::vector<std::string> inputs, std::string output,
                  std::optional<int64_t> axis = std::nullopt) {
  std::vector<ir::Attribute> attributes;
  if (axis) attributes.push_back(edit::int_attr("axis", *axis));
  return edit::make_node(op, std::move(inputs), {std::move(output)}, std::move(name), std::move(attributes));
}

ir::NamedTensor named_tensor(std::string name, Tensor tensor) {
  ir::NamedTensor t;
  t.name = std::move(name);
  t.tensor = std::move(tensor);
  return t;
}

template <typename T>
Tensor vector_tensor(DType dtype, const std::vector<T>& values, bool scalar) {
  Shape shape = scalar ? Shape{} : Shape{static_cast<int64_t>(values.size())};
  return Tensor::from_values<T>(dtype, shape, values);
}

Tensor zero_points(DType dtype, const std::vector<int32_t>& zp, bool scalar) {
  return zero_point_tensor(zp, dtype, scalar ? Shape{} : Shape{static_cast<int64_t>(zp.size())});
}

struct Layer {
  size_t node = 0;  // index in the float graph
  std::string name, op_type;
  std::string float_output, quant_output;
  int64_t channel_axis = 1;  // output channels: 1 for Conv (NCHW), the last axis (-1) for Gemm / MatMul
};

// int8 symmetric weights, per channel along the op's axis or per tensor: the same whatever the
// calibration, so quantized once per (weight, axis) and shared by every Emitter of one run (the
// probes and --calib-method auto's candidates).
class WeightCache {
 public:
  struct Entry {
    quant::QuantParams params;
    quant::Quantized q;
  };
  const Entry& get(const std::string& name, const Tensor& w, int64_t axis) {
    auto key = std::make_pair(name, axis);
    if (auto it = entries_.find(key); it != entries_.end()) return it->second;
    Entry e;
    e.params = quant::choose_params(w, DType::i8, true, axis);
    e.q = quant::quantize_measured(w, e.params);
    return entries_.emplace(key, std::move(e)).first->second;
  }

 private:
  std::map<std::pair<std::string, int64_t>, Entry> entries_;
};

class Emitter {
 public:
  // probe: keep the float graph whole and add, right after each planned layer, a twin that reads
  // the int8-simulated input and weights (each layer's own error, measured in one run).
  Emitter(ir::Model& model, const QdqPlan& plan, const std::map<std::string, quant::Range>& ranges,
          const QuantizeOptions& o, WeightCache& weight_cache, PassResult& result, const ProgressFn& progress,
          bool probe = false)
      : g_(model.graph), plan_(plan), o_(o), names_(model.graph), weight_cache_(weight_cache), result_(result),
        progress_(progress), probe_(probe) {
    for (auto& t : g_.initializers) inits_[t.name] = &t.tensor;
    for (const auto& [name, r] : ranges) act_[name] = quant::params_from_range(r.lo, r.hi, o.activation_type, false);
    for (const auto& [tensor, source] : plan.marked) dq_[tensor] = names_.fresh(tensor + "_dequantized");
    for (const auto& cp : plan.compute) by_node_[cp.node] = &cp;
  }

  std::vector<Layer> run() {
    std::set<size_t> absorbed;
    for (const auto& cp : plan_.compute)
      if (cp.absorbed && !probe_) absorbed.insert(*cp.absorbed);
    std::vector<ir::Node> body;
    for (const auto& in : g_.inputs)
      if (plan_.marked.count(in.name)) emit_pair(in.name, body);
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (absorbed.count(i)) continue;
      ir::Node node = g_.nodes[i];
      auto planned = by_node_.find(i);
      if (probe_ && planned != by_node_.end()) {
        body.push_back(node);
        add_twin(*planned->second, std::move(node));
      } else {
        for (auto& in : node.inputs)
          if (auto it = dq_.find(in); it != dq_.end() && !probe_) in = it->second;
        if (planned != by_node_.end()) rewrite_compute(*planned->second, node);
        body.push_back(std::move(node));
      }
      for (const auto& out : body.back().outputs)
        if (plan_.marked.count(out)) emit_pair(out, body);
      if (auto twins = twins_.find(i); twins != twins_.end())
        std::move(twins->second.begin(), twins->second.end(), std::back_inserter(body));
    }
    std::vector<ir::Node> nodes = std::move(weight_nodes_);
    std::move(body.begin(), body.end(), std::back_inserter(nodes));
    g_.nodes = std::move(nodes);
    for (auto& t : new_inits_) g_.initializers.push_back(std::move(t));
    if (!probe_) remove_dead(g_);  // the probe twins are read by nobody but the observer
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
    const WeightCache::Entry& qw = weight_cache_.get(name, w, per_channel ? axis : -1);
    params = qw.params;
    auto key = std::make_pair(name, params.axis);
    if (auto it = weights_.find(key); it != weights_.end()) return it->second;
    std::string q = names_.fresh(name + "_quantized"), s = names_.fresh(name + "_scale"),
                z = names_.fresh(name + "_zero_point"), dq = names_.fresh(name + "_dequantized");
    new_inits_.push_back(named_tensor(q, qw.q.q));
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
    change.rel_error = qw.q.rel_error;
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
    new_inits_.push_back(named_tensor(z, Tensor(DType::i32, {n})));  // zeros
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
    if (probe_) return;
    node.outputs[0] = cp.output;
    auto dq = dq_.find(cp.output);
    layers_.push_back({cp.node, layer_name(original), original.op_type, cp.output,
                       dq == dq_.end() ? cp.output : dq->second, channel_axis(original)});
  }

  static std::string layer_name(const ir::Node& node) { return node.name.empty() ? node.label() : node.name; }
  static int64_t channel_axis(const ir::Node& node) { return node.op_type == "Conv" ? 1 : -1; }

  // Probe: the layer again on int8-simulated input and weights, its output quantized as the plan
  // quantizes it (with the absorbed activation's range), placed after the float layer (and after
  // its absorbed activation, whose output is then the reference).
  void add_twin(const ComputePlan& cp, ir::Node twin) {
    for (auto& in : twin.inputs)
      if (auto it = dq_.find(in); it != dq_.end()) in = it->second;
    rewrite_compute(cp, twin);
    const ir::Node& original = g_.nodes[cp.node];
    twin.outputs[0] = names_.fresh(original.outputs[0] + "_probe");
    std::vector<ir::Node>& out = twins_[cp.absorbed.value_or(cp.node)];
    std::string reference = original.outputs[0], candidate = twin.outputs[0];
    out.push_back(std::move(twin));
    if (plan_.marked.count(cp.output)) {
      auto [s, z] = act_params(plan_.marked.at(cp.output));
      std::string q = names_.fresh(candidate + "_quantized"), dq = names_.fresh(candidate + "_dequantized");
      out.push_back(qdq_node("QuantizeLinear", names_.fresh(q + "_QuantizeLinear"), {candidate, s, z}, q));
      out.push_back(qdq_node("DequantizeLinear", names_.fresh(dq + "_DequantizeLinear"), {q, s, z}, dq));
      reference = cp.output;
      candidate = dq;
    }
    layers_.push_back({cp.node, layer_name(original), original.op_type, reference, candidate, channel_axis(original)});
  }

  ir::Graph& g_;
  const QdqPlan& plan_;
  const QuantizeOptions& o_;
  edit::Namer names_;
  WeightCache& weight_cache_;
  PassResult& result_;
  const ProgressFn& progress_;
  bool probe_;
  std::map<std::string, const Tensor*> inits_;
  std::map<std::string, quant::QuantParams> act_;
  std::map<std::string, std::pair<std::string, std::string>> act_names_;
  std::map<std::string, std::string> dq_;
  std::map<size_t, const ComputePlan*> by_node_;
  std::map<std::pair<std::string, int64_t>, std::string> weights_;
  std::vector<ir::Node> weight_nodes_;
  std::vector<ir::NamedTensor> new_inits_;
  std::vector<Layer> layers_;
  std::map<size_t, std::vector<ir::Node>> twins_;  // probe: emitted after this float node
};

// Each layer's output against its float reference, accumulated over runs: a reference is kept
// from when it is computed until its counterpart arrives (the float model's run before the
// quantized model's, or the float layer just before its probe twin in one run).
class LayerFidelity : public exec::Observer {
 public:
  // What is measured: the tensor SQNR (the report) or the per-channel one (--min-layer-sqnr).
  enum class Measure { tensor, channel };
  LayerFidelity(const std::vector<Layer>& layers, Measure measure)
      : layers_(layers), measure_(measure), fidelity_(layers.size()), channels_(layers.size()) {
    for (size_t l = 0; l < layers.size(); ++l) {
      reference_[layers[l].float_output];
      layers_of_[layers[l].quant_output].push_back(l);
    }
  }
  void on_value(const std::string& name, const Tensor& value, const ir::Node&) override {
    if (auto it = layers_of_.find(name); it != layers_of_.end()) {
      for (size_t l : it->second) {
        const Tensor& ref = reference_.at(layers_[l].float_output);
        if (ref.empty() || ref.shape() != value.shape() || ref.dtype() != DType::f32) continue;
        if (measure_ == Measure::tensor) fidelity_[l].add(ref, value);
        else channels_[l].add(ref, value, layers_[l].channel_axis);
      }
    }
    if (!recording_) return;
    if (auto it = reference_.find(name); it != reference_.end()) it->second = value;
  }
  // Off: the run computes candidates only (a quantized model reuses float names for other values).
  void set_recording(bool on) { recording_ = on; }
  void forget() {
    for (auto& [name, t] : reference_) t = Tensor();
  }
  double sqnr_db(size_t layer) const { return fidelity_[layer].sqnr_db(); }
  double channel_sqnr_db(size_t layer) const { return channels_[layer].sqnr_db(); }

 private:
  // SQNR with every output channel weighted alike: 10 log10(C / sum_c noise_c / signal_c) over the
  // live channels. A tensor SQNR hides a small-range channel that one activation scale destroys
  // (the big channels carry the energy); the layers after it need that channel all the same.
  struct ChannelError {
    std::vector<double> signal, noise;
    void add(const Tensor& ref, const Tensor& got, int64_t axis) {
      if (ref.rank() == 0) return;
      if (axis < 0) axis += ref.rank();
      int64_t c_count = ref.shape()[axis], inner = 1;
      for (int64_t d = axis + 1; d < ref.rank(); ++d) inner *= ref.shape()[d];
      signal.resize(c_count, 0);
      noise.resize(c_count, 0);
      const float* r = ref.data<float>();
      const float* g = got.data<float>();
      const int64_t outer = c_count * inner == 0 ? 0 : ref.numel() / (c_count * inner);
      for (int64_t o = 0, i = 0; o < outer; ++o)
        for (int64_t c = 0; c < c_count; ++c)
          for (int64_t j = 0; j < inner; ++j, ++i) {
            double d = double{r[i]} - double{g[i]};
            signal[c] += double{r[i]} * r[i];
            noise[c] += d * d;
          }
    }
    double sqnr_db() const {
      double top = signal.empty() ? 0 : *std::max_element(signal.begin(), signal.end());
      double ratio = 0;
      int64_t live = 0;
      for (size_t c = 0; c < signal.size(); ++c) {
        if (signal[c] <= top * kDeadChannel) continue;
        ratio += noise[c] / signal[c];
        ++live;
      }
      return ratio == 0 ? std::numeric_limits<double>::infinity() : 10 * std::log10(static_cast<double>(live) / ratio);
    }
  };
  static constexpr double kDeadChannel = 1e-6;  // relative energy below which a channel is ignored

  const std::vector<Layer>& layers_;
  Measure measure_;
  std::vector<report::OutputFidelity> fidelity_;
  std::vector<ChannelError> channels_;
  std::map<std::string, Tensor> reference_;
  std::map<std::string, std::vector<size_t>> layers_of_;
  bool recording_ = true;
};

// Runs the models in turn on the first samples, one sample per run (only one sample's layer
// outputs alive at a time); references come from the first model.
void measure(LayerFidelity& fidelity, const std::vector<const ir::Model*>& models, const data::Dataset& ds,
             int64_t samples, int threads) {
  std::vector<std::unique_ptr<exec::Executor>> executors;
  for (const ir::Model* m : models)
    executors.push_back(std::make_unique<exec::Executor>(*m, exec::ExecOptions{threads}));
  for_each_batch(ds, std::min(samples, kSqnrSamples), 1, [&](const std::vector<Tensor>& batch) {
    auto feeds = feeds_of(ds, batch);
    for (size_t m = 0; m < executors.size(); ++m) {
      fidelity.set_recording(m == 0);
      executors[m]->run(feeds, &fidelity);
    }
    fidelity.forget();
  });
}

nlohmann::ordered_json db_json(double db) {
  return std::isfinite(db) ? nlohmann::ordered_json(db) : nlohmann::ordered_json("inf");
}

// Planned layers whose own int8 error (int8 input, weights and output, float everything else) is
// too large: they stay float, since int8 there costs more accuracy than its speed is worth.
// PaddleOCR's detector has depthwise convolutions whose input channels span 0.75 to 78: one
// activation scale cannot serve them all. Returns their float-graph node indices with the SQNR.
std::map<size_t, double> too_lossy_layers(const ir::Model& float_model, const QdqPlan& plan,
                                          const std::map<std::string, quant::Range>& ranges, const QuantizeOptions& o,
                                          WeightCache& weights, const data::Dataset& ds, int64_t samples) {
  ir::Model probe = float_model;
  PassResult scratch;
  std::vector<Layer> layers = Emitter(probe, plan, ranges, o, weights, scratch, {}, true).run();
  LayerFidelity fidelity(layers, LayerFidelity::Measure::channel);
  measure(fidelity, {&probe}, ds, samples, o.threads);
  std::map<size_t, double> lossy;
  for (size_t l = 0; l < layers.size(); ++l)
    if (fidelity.channel_sqnr_db(l) < o.min_layer_sqnr_db) lossy[layers[l].node] = fidelity.channel_sqnr_db(l);
  return lossy;
}

void report_layers(const ir::Model& float_model, const ir::Model& quantized, const std::vector<Layer>& layers,
                   const data::Dataset& ds, int64_t samples, const QuantizeOptions& o, PassResult& result,
                   const ProgressFn& progress) {
  LayerFidelity fidelity(layers, LayerFidelity::Measure::tensor);
  measure(fidelity, {&float_model, &quantized}, ds, samples, o.threads);
  auto& rows = result.extra["layers"] = nlohmann::ordered_json::array();
  for (size_t l = 0; l < layers.size(); ++l) {
    double sqnr = fidelity.sqnr_db(l);
    rows.push_back({{"name", layers[l].name}, {"op_type", layers[l].op_type}, {"sqnr_db", db_json(sqnr)}});
    if (progress) progress(fmt::format("layer {} ({}) output SQNR {:.1f} dB", layers[l].name, layers[l].op_type, sqnr));
  }
}

// The plan with the layers too lossy in int8 (--min-layer-sqnr) left float, and the ranges it
// needs (the tensors that leaving a layer float newly marks are calibrated, with `method`; the
// ranges already there are what a new calibration would give).
struct Layout {
  QdqPlan plan;
  std::map<std::string, quant::Range> ranges;
  std::map<size_t, double> lossy;  // float-graph node -> its own int8 SQNR
};

Layout lay_out(const ir::Model& model, QdqPlan plan, std::map<std::string, quant::Range> ranges, const QuantizeOptions& o,
               WeightCache& weights,
               CalibMethod method, const data::Dataset& ds, int64_t samples, const NameFilter& filter) {
  Layout l{std::move(plan), std::move(ranges), {}};
  if (o.min_layer_sqnr_db > 0) l.lossy = too_lossy_layers(model, l.plan, l.ranges, o, weights, ds, samples);
  if (l.lossy.empty()) return l;
  std::set<size_t> keep_float;
  for (const auto& [node, db] : l.lossy) keep_float.insert(node);
  l.plan = plan_qdq(model.graph, o.op_types, filter, keep_float);
  std::map<std::string, quant::Range> kept;
  std::vector<std::string> missing;
  for (const auto& t : l.plan.calibrated()) {
    if (auto it = l.ranges.find(t); it != l.ranges.end()) kept.insert(*it);
    else missing.push_back(t);
  }
  if (missing.empty()) return l;  // as before: a plan that needs no new tensor keeps every range
  kept.merge(calibrate(model, missing, o, method, ds, samples));
  l.ranges = std::move(kept);
  return l;
}

// The float model's graph outputs on the first samples, computed once, against which candidate
// quantized models are scored: their lowest output SQNR.
class ReferenceOutputs {
 public:
  ReferenceOutputs(const ir::Model& float_model, const data::Dataset& ds, int64_t samples, int threads)
      : ds_(ds), samples_(samples), threads_(threads) {
    exec::Executor base(float_model, {threads});
    for_each_batch(ds, samples, 1, [&](const std::vector<Tensor>& batch) { outputs_.push_back(base.run(feeds_of(ds, batch))); });
  }

  double sqnr_db(const ir::Model& quantized) const {
    exec::Executor cand(quantized, {threads_});
    std::map<std::string, report::OutputFidelity> per_output;
    size_t i = 0;
    for_each_batch(ds_, samples_, 1, [&](const std::vector<Tensor>& batch) {
      auto b = cand.run(feeds_of(ds_, batch));
      for (const auto& [name, t] : outputs_[i++])
        if (auto it = b.find(name); it != b.end() && it->second.shape() == t.shape()) per_output[name].add(t, it->second);
    });
    double worst = std::numeric_limits<double>::infinity();
    for (const auto& [name, f] : per_output) worst = std::min(worst, f.sqnr_db());
    return worst;
  }

 private:
  const data::Dataset& ds_;
  int64_t samples_;
  int threads_;
  std::vector<std::map<std::string, Tensor>> outputs_;
};

}  // namespace

PassResult quantize_static(ir::Model& model, const QuantizeOptions& options, const data::Dataset& calibration,
                           const ProgressFn& progress) {
  options.validate();
  int64_t samples =
      options.calib_samples > 0 ? std::min(options.calib_samples, calibration.samples) : calibration.samples;
  if (samples <= 0) throw_bad_input("{}: no samples to calibrate on", calibration.source);

  PassResult result = cleanup(model);
  int64_t opset_before = raise_opset(model, kQdqOpset);
  if (model.opset("") != opset_before)
    result.warnings.push_back(fmt::format("opset raised from {} to {} (QuantizeLinear / DequantizeLinear per axis)",
                                          opset_before, kQdqOpset));

  NameFilter filter(options.exclude);
  QdqPlan plan = plan_qdq(model.graph, options.op_types, filter);
  if (plan.compute.empty()) {
    result.warnings.push_back("static quantization: no Conv, Gemm or MatMul with a constant float weight to quantize");
    return result;
  }
  ir::Model float_model = model;
  CalibMethod method = options.calib_method;
  nlohmann::ordered_json candidates;
  WeightCache weights;
  Layout layout;
  // auto: the winning candidate as built, with its report rows and progress lines (replayed).
  struct Built {
    ir::Model model;
    std::vector<Layer> layers;
    PassResult rows;
    std::vector<std::string> lines;
  };
  std::optional<Built> chosen;
  if (method == CalibMethod::auto_) {
    Calibrators calibrators = collect(model, plan.calibrated(), options, method, calibration, samples);
    ReferenceOutputs reference(float_model, calibration, std::min(samples, kAutoSamples), options.threads);
    double best = -std::numeric_limits<double>::infinity();
    for (CalibMethod m : kAutoCandidates) {
      Layout candidate_layout =
          lay_out(model, plan, ranges_as(calibrators, options, m), options, weights, m, calibration, samples, filter);
      Built built{model, {}, {}, {}};
      ProgressFn keep = [&built](std::string_view line) { built.lines.emplace_back(line); };
      built.layers = Emitter(built.model, candidate_layout.plan, candidate_layout.ranges, options, weights, built.rows,
                             progress ? keep : ProgressFn{})
                         .run();
      double db = reference.sqnr_db(built.model);
      candidates[kMethodNames[static_cast<size_t>(m)]] = db_json(db);
      if (progress) progress(fmt::format("calibration {}: model output SQNR {:.1f} dB, {} layer(s) float", kMethodNames[static_cast<size_t>(m)], db, candidate_layout.lossy.size()));
      // Ties keep the earlier, simpler method; more layers left float (slower) must earn more. A
      // method whose ranges leave every layer float quantizes nothing: its perfect score counts
      // only when no method quantizes anything.
      const bool nothing = candidate_layout.lossy.size() >= plan.compute.size();
      const bool best_nothing = chosen && layout.lossy.size() >= plan.compute.size();
      const double margin = candidate_layout.lossy.size() > layout.lossy.size() ? kAutoMarginSlowerDb : kAutoMarginDb;
      if (!chosen || (best_nothing && !nothing) || (!nothing && db > best + margin)) {
        best = db;
        method = m;
        layout = std::move(candidate_layout);
        chosen = std::move(built);
      }
    }
  } else {
    auto ranges = calibrate(model, plan.calibrated(), options, method, calibration, samples);
    layout = lay_out(model, std::move(plan), std::move(ranges), options, weights, method, calibration, samples, filter);
  }
  plan = std::move(layout.plan);
  std::map<std::string, quant::Range> ranges = std::move(layout.ranges);
  if (!layout.lossy.empty()) {
    auto& kept = result.extra["float_layers"] = nlohmann::ordered_json::array();
    for (const auto& [node, db] : layout.lossy) {
      const ir::Node& n = float_model.graph.nodes[node];
      kept.push_back({{"name", n.name.empty() ? n.label() : n.name}, {"op_type", n.op_type}, {"sqnr_db", db_json(db)}});
    }
    result.warnings.push_back(fmt::format("{} layer(s) kept in float: their own int8 output SQNR is below {} dB",
                                          layout.lossy.size(), options.min_layer_sqnr_db));
  }
  std::vector<Layer> layers;
  if (chosen) {
    model = std::move(chosen->model);
    layers = std::move(chosen->layers);
    std::move(chosen->rows.changes.begin(), chosen->rows.changes.end(), std::back_inserter(result.changes));
    if (progress)
      for (const auto& line : chosen->lines) progress(line);
  } else {
    layers = Emitter(model, plan, ranges, options, weights, result, progress).run();
  }
  report_layers(float_model, model, layers, calibration, samples, options, result, progress);
  result.extra["calibration"] = {{"method", kMethodNames[static_cast<size_t>(method)]},
                                  {"samples", calibration.whole_batch ? calibration.samples : samples},
                                  {"tensors", ranges.size()}};
  if (!candidates.empty()) result.extra["calibration"]["output_sqnr_db"] = std::move(candidates);
  result.extra["activations_quantized"] = plan.marked.size();
  if (options.format == QuantFormat::qoperator) result.extra["qoperator"] = lower_to_qoperator(model);
  return result;
}

}  // namespace mcompress::passes
