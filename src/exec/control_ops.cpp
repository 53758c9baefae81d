// Control flow: If, Loop, Scan. Bodies run through the executor's SubgraphRunner, which gives
// them the enclosing scopes' values; these kernels only feed body inputs and collect outputs.
// Only tensor values flow (sequences and optionals are not modelled).
#include <cstring>
#include <limits>

#include "kernels.h"

namespace mcompress::exec {
namespace {

const ir::Graph& graph_attr(const OpContext& ctx, const char* name) {
  const ir::Attribute* a = ctx.node().attr(name);
  if (!a || !a->g) ctx.fail(std::string("needs a graph attribute '") + name + "'");
  return *a->g;
}


bool first_truthy(const OpContext& ctx, const Tensor& t, const char* what) {
  if (t.numel() < 1) ctx.fail(std::string(what) + " is empty");
  return element_as_double(t, 0) != 0;
}

// Slice `index` of x along `axis`, that axis removed.
Tensor take_along(const OpContext& ctx, const Tensor& x, size_t axis, int64_t index) {
  int64_t width = element_width(ctx, x.dtype());
  Shape shape = x.shape();
  int64_t dim = shape[axis];
  shape.erase(shape.begin() + static_cast<int64_t>(axis));
  Tensor out(x.dtype(), shape);
  int64_t outer = product(x.shape(), 0, axis);
  int64_t inner_bytes = product(x.shape(), axis + 1, x.shape().size()) * width;
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(out.storage().data() + o * inner_bytes, x.storage().data() + (o * dim + index) * inner_bytes,
                static_cast<size_t>(inner_bytes));
  return out;
}

// Stacks equally shaped tensors along a new axis `axis`; `reverse` stacks them last-first.
Tensor stack_along(const OpContext& ctx, const std::vector<Tensor>& parts, size_t axis, bool reverse) {
  const Tensor& first = parts.front();
  int64_t width = element_width(ctx, first.dtype());
  if (axis > first.shape().size()) ctx.fail("scan output axis is out of range");
  for (const Tensor& p : parts)
    if (p.dtype() != first.dtype() || p.shape() != first.shape())
      ctx.fail("scan output changes shape or type between iterations: " + shape_string(first.shape()) + " vs " +
               shape_string(p.shape()));
  int64_t n = static_cast<int64_t>(parts.size());
  Shape shape = first.shape();
  shape.insert(shape.begin() + static_cast<int64_t>(axis), n);
  Tensor out(first.dtype(), shape);
  int64_t outer = product(first.shape(), 0, axis);
  int64_t inner_bytes = product(first.shape(), axis, first.shape().size()) * width;
  for (int64_t k = 0; k < n; ++k) {
    const Tensor& p = parts[static_cast<size_t>(reverse ? n - 1 - k : k)];
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(out.storage().data() + (o * n + k) * inner_bytes, p.storage().data() + o * inner_bytes,
                  static_cast<size_t>(inner_bytes));
  }
  return out;
}

// The empty scan output of a loop that ran no iteration: [0, ...] with the body output's static
// shape where the graph declares one.
Tensor empty_scan_output(const ir::ValueInfo& info) {
  DType dtype = DType::f32;
  Shape shape{0};
  if (info.type && info.type->is_tensor()) {
    if (info.type->elem != DType::undefined) dtype = info.type->elem;
    if (info.type->shape) {
      bool known = true;
      Shape dims;
      for (const ir::Dim& d : *info.type->shape) {
        if (!d.value) known = false;
        dims.push_back(d.value.value_or(0));
      }
      if (known) shape.insert(shape.end(), dims.begin(), dims.end());
    }
  }
  return Tensor(dtype, shape);
}

// ---- If ---------------------------------------------------------------------------------------

void if_op(OpContext& ctx) {
  bool cond = first_truthy(ctx, ctx.in(0), "cond");
  const ir::Graph& branch = graph_attr(ctx, cond ? "then_branch" : "else_branch");
  std::vector<Tensor> results = ctx.subgraphs()(branch, {});
  if (results.size() < ctx.num_outputs())
    ctx.fail(std::string(cond ? "then" : "else") + "_branch gives " + std::to_string(results.size()) + " outputs, the node has " +
             std::to_string(ctx.num_outputs()));
  for (size_t i = 0; i < ctx.num_outputs(); ++i)
    if (ctx.has_output(i)) ctx.out(i) = std::move(results[i]);
}

// ---- Loop -------------------------------------------------------------------------------------

void loop(OpContext& ctx) {
  const ir::Graph& body = graph_attr(ctx, "body");
  const Tensor* trip_count = ctx.input(0);
  const Tensor* cond_in = ctx.input(1);
  int64_t max_trips = std::numeric_limits<int64_t>::max();
  if (trip_count) {
    if (trip_count->numel() < 1) ctx.fail("M is empty");
    max_trips = to_int64s(ctx, *trip_count)[0];
  }
  bool cond = cond_in ? first_truthy(ctx, *cond_in, "cond") : true;
  size_t carried_count = ctx.num_inputs() < 2 ? 0 : ctx.num_inputs() - 2;
  if (ctx.num_outputs() < carried_count) ctx.fail("has fewer outputs than loop-carried values");
  size_t scan_count = ctx.num_outputs() - carried_count;
  if (body.inputs.size() != 2 + carried_count)
    ctx.fail("body takes " + std::to_string(body.inputs.size()) + " inputs, expected " + std::to_string(2 + carried_count));
  if (body.outputs.size() != 1 + carried_count + scan_count)
    ctx.fail("body gives " + std::to_string(body.outputs.size()) + " outputs, expected " +
             std::to_string(1 + carried_count + scan_count));

  std::vector<Tensor> carried;
  for (size_t i = 0; i < carried_count; ++i) {
    const Tensor* v = ctx.input(2 + i);
    if (!v) ctx.unsupported("omitted loop-carried values are not supported");
    carried.push_back(*v);
  }
  std::vector<std::vector<Tensor>> scans(scan_count);
  for (int64_t i = 0; i < max_trips && cond; ++i) {
    Tensor iteration = Tensor::from_values<int64_t>(DType::i64, {}, std::span<const int64_t>(&i, 1));
    Tensor cond_value(DType::boolean, {});
    cond_value.data<uint8_t>()[0] = 1;
    std::vector<const Tensor*> inputs{&iteration, &cond_value};
    for (const Tensor& c : carried) inputs.push_back(&c);
    std::vector<Tensor> results = ctx.subgraphs()(body, inputs);
    if (results.size() != 1 + carried_count + scan_count) ctx.fail("body gave the wrong number of outputs");
    // Without a cond input the loop is a plain for loop: the body's cond is ignored.
    if (cond_in) cond = first_truthy(ctx, results[0], "body's cond output");
    for (size_t k = 0; k < carried_count; ++k) carried[k] = std::move(results[1 + k]);
    for (size_t k = 0; k < scan_count; ++k) scans[k].push_back(std::move(results[1 + carried_count + k]));
  }
  for (size_t k = 0; k < carried_count; ++k)
    if (ctx.has_output(k)) ctx.out(k) = std::move(carried[k]);
  for (size_t k = 0; k < scan_count; ++k) {
    if (!ctx.has_output(carried_count + k)) continue;
    ctx.out(carried_count + k) = scans[k].empty() ? empty_scan_output(body.outputs[1 + carried_count + k])
                                                  : stack_along(ctx, scans[k], 0, false);
  }
}

// ---- Scan -------------------------------------------------------------------------------------

struct ScanSpec {
  size_t state_count = 0;
  size_t scan_inputs = 0;
  size_t scan_outputs = 0;
  std::vector<int64_t> input_axes, input_directions, output_axes, output_directions;
};

// One scan over unbatched inputs: `state` initial values, `xs` the scanned inputs. Returns the
// final states followed by the stacked scan outputs.
std::vector<Tensor> run_scan(const OpContext& ctx, const ir::Graph& body, const ScanSpec& spec, std::vector<Tensor> state,
                             const std::vector<const Tensor*>& xs, int64_t length_limit) {
  int64_t length = -1;
  std::vector<size_t> axes;
  for (size_t j = 0; j < xs.size(); ++j) {
    if (xs[j]->rank() == 0) ctx.fail("scan input " + std::to_string(j) + " is a scalar: nothing to scan");
    size_t axis = static_cast<size_t>(normalize_axis(ctx, spec.input_axes[j], xs[j]->rank()));
    axes.push_back(axis);
    int64_t len = xs[j]->shape()[axis];
    if (length >= 0 && len != length) ctx.fail("scan inputs have different sequence lengths");
    length = len;
  }
  if (length < 0) length = 0;
  if (length_limit >= 0) length = std::min(length, length_limit);
  std::vector<std::vector<Tensor>> outs(spec.scan_outputs);
  for (int64_t t = 0; t < length; ++t) {
    std::vector<Tensor> slices;
    slices.reserve(xs.size());
    for (size_t j = 0; j < xs.size(); ++j) {
      int64_t index = spec.input_directions[j] ? length - 1 - t : t;
      slices.push_back(take_along(ctx, *xs[j], axes[j], index));
    }
    std::vector<const Tensor*> inputs;
    for (const Tensor& s : state) inputs.push_back(&s);
    for (const Tensor& s : slices) inputs.push_back(&s);
    std::vector<Tensor> results = ctx.subgraphs()(body, inputs);
    if (results.size() != spec.state_count + spec.scan_outputs) ctx.fail("body gave the wrong number of outputs");
    for (size_t k = 0; k < spec.state_count; ++k) state[k] = std::move(results[k]);
    for (size_t k = 0; k < spec.scan_outputs; ++k) outs[k].push_back(std::move(results[spec.state_count + k]));
  }
  std::vector<Tensor> result = std::move(state);
  for (size_t k = 0; k < spec.scan_outputs; ++k) {
    if (outs[k].empty()) {
      result.push_back(empty_scan_output(body.outputs[spec.state_count + k]));
      continue;
    }
    int64_t rank = outs[k].front().rank() + 1;
    size_t axis = static_cast<size_t>(normalize_axis(ctx, spec.output_axes[k], rank));
    result.push_back(stack_along(ctx, outs[k], axis, spec.output_directions[k] != 0));
  }
  return result;
}

std::vector<int64_t> per_value(const OpContext& ctx, const char* name, size_t count) {
  std::vector<int64_t> v = ctx.attr_ints(name);
  if (v.empty()) v.assign(count, 0);
  if (v.size() != count) ctx.fail(std::string(name) + " has " + std::to_string(v.size()) + " entries, expected " + std::to_string(count));
  return v;
}

void scan(OpContext& ctx) {
  const ir::Graph& body = graph_attr(ctx, "body");
  ScanSpec spec;
  spec.scan_inputs = static_cast<size_t>(ctx.attr_int("num_scan_inputs", 0));
  // Scan-8 has a leading optional sequence_lens input and a batch axis on everything.
  size_t first_input = ctx.opset() < 9 ? 1 : 0;
  if (ctx.num_inputs() < first_input + spec.scan_inputs) ctx.fail("has fewer inputs than num_scan_inputs");
  spec.state_count = ctx.num_inputs() - first_input - spec.scan_inputs;
  if (ctx.num_outputs() < spec.state_count) ctx.fail("has fewer outputs than state values");
  spec.scan_outputs = ctx.num_outputs() - spec.state_count;
  if (body.inputs.size() != spec.state_count + spec.scan_inputs) ctx.fail("body inputs do not match the scan's");
  if (body.outputs.size() != spec.state_count + spec.scan_outputs) ctx.fail("body outputs do not match the scan's");
  if (ctx.opset() < 9) {
    spec.input_axes.assign(spec.scan_inputs, 0);
    spec.input_directions = per_value(ctx, "directions", spec.scan_inputs);
  } else {
    spec.input_axes = per_value(ctx, "scan_input_axes", spec.scan_inputs);
    spec.input_directions = per_value(ctx, "scan_input_directions", spec.scan_inputs);
  }
  spec.output_axes = ctx.opset() < 9 ? std::vector<int64_t>(spec.scan_outputs, 0) : per_value(ctx, "scan_output_axes", spec.scan_outputs);
  spec.output_directions = ctx.opset() < 9 ? std::vector<int64_t>(spec.scan_outputs, 0)
                                           : per_value(ctx, "scan_output_directions", spec.scan_outputs);

  if (ctx.opset() >= 9) {
    std::vector<Tensor> state;
    for (size_t i = 0; i < spec.state_count; ++i) state.push_back(ctx.in(i));
    std::vector<const Tensor*> xs;
    for (size_t j = 0; j < spec.scan_inputs; ++j) xs.push_back(&ctx.in(spec.state_count + j));
    std::vector<Tensor> result = run_scan(ctx, body, spec, std::move(state), xs, -1);
    for (size_t k = 0; k < result.size() && k < ctx.num_outputs(); ++k)
      if (ctx.has_output(k)) ctx.out(k) = std::move(result[k]);
    return;
  }

  // Scan-8: run each batch entry on its own, then stack the results along the batch axis.
  int64_t batch = -1;
  for (size_t i = 1; i < ctx.num_inputs(); ++i) {
    const Tensor& t = ctx.in(i);
    if (t.rank() == 0) ctx.fail("Scan-8 inputs need a batch axis");
    if (batch >= 0 && t.shape()[0] != batch) ctx.fail("inputs have different batch sizes");
    batch = t.shape()[0];
  }
  std::vector<int64_t> lengths;
  if (const Tensor* s = ctx.input(0)) lengths = to_int64s(ctx, *s);
  if (!lengths.empty() && static_cast<int64_t>(lengths.size()) != batch) ctx.fail("sequence_lens does not match the batch");
  if (batch <= 0) ctx.unsupported("Scan-8 with an empty batch is not supported");
  std::vector<std::vector<Tensor>> per_output(spec.state_count + spec.scan_outputs);
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<Tensor> state;
    for (size_t i = 0; i < spec.state_count; ++i) state.push_back(take_along(ctx, ctx.in(1 + i), 0, b));
    std::vector<Tensor> x_parts;
    for (size_t j = 0; j < spec.scan_inputs; ++j) x_parts.push_back(take_along(ctx, ctx.in(1 + spec.state_count + j), 0, b));
    std::vector<const Tensor*> xs;
    for (const Tensor& x : x_parts) xs.push_back(&x);
    int64_t limit = lengths.empty() ? -1 : lengths[static_cast<size_t>(b)];
    if (limit >= 0 && !lengths.empty() && limit != (xs.empty() ? 0 : xs[0]->shape()[0]))
      ctx.unsupported("Scan-8 with sequence_lens shorter than the sequence is not supported");
    std::vector<Tensor> result = run_scan(ctx, body, spec, std::move(state), xs, limit);
    for (size_t k = 0; k < result.size(); ++k) per_output[k].push_back(std::move(result[k]));
  }
  for (size_t k = 0; k < per_output.size() && k < ctx.num_outputs(); ++k)
    if (ctx.has_output(k)) ctx.out(k) = stack_along(ctx, per_output[k], 0, false);
}

constexpr OpDef kOps[] = {
    {"", "If", if_op, true},
    {"", "Loop", loop, true},
    {"", "Scan", scan, true},
};

}  // namespace

std::span<const OpDef> control_ops() { return kOps; }

}  // namespace mcompress::exec
