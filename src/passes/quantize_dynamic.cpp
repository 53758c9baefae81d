// Dynamic int8: ONNX Runtime's QOperator dynamic form.
//
// Which ops: MatMul and Gemm always; Conv only when --op-types names it. By default --mode dynamic
// gives Conv weights the weight-only form (quantize_weights.cpp: int8 + zero points, DequantizeLinear,
// float Conv), because ConvInteger is the wrong trade in ONNX Runtime: it runs the bundled CNN 5.1x
// slower than fp32, and one per-tensor u8 scale for a whole Conv input costs accuracy on real
// exports. Measured on PaddleOCR glyph pages (cosine to fp32): rec 0.9745 with ConvInteger
// (0.9669 with per-channel zero points), 0.9989 with weight-only Conv; det 0.9580 / 0.9988. The
// error is spread over many layers (the worst single one, rec's depthwise conv2d_157, alone gives
// 0.982), so excluding a few does not fix it. PyTorch's dynamic quantization also leaves Conv alone.
//
// Before: Y = MatMul(X, W) | Gemm(X, W, C) | Conv(X, W, B)
// After:  Xq, xs, xz = DynamicQuantizeLinear(X)            (once per activation)
//         A = MatMulInteger(Xq, W_q, xz, wz) | ConvInteger(Xq, W_q, xz, wz)
//         Y = Cast(A, float) * (xs * w_scale)  [+ bias]
// Preconditions: opset >= 11 (quantize_weights raises it first); Gemm without transA.
// Math: W_q int8, per output channel unless --granularity tensor. MatMul/Gemm scales and zero
//   points are per column [N] (MatMulInteger's per-column b_zero_point); Gemm's alpha goes into
//   the scales, beta into the bias. Conv scales have shape [1, O, 1, ...] so that the product with
//   the scalar xs broadcasts over the output.
//   ConvInteger in ONNX Runtime reads only a scalar weight zero point, so per-channel zero points
//   zw[o] are taken out of the integer product and subtracted afterwards:
//     sum (xq - xz)(wq - zw[o]) = ConvInteger(Xq, Wq, xz) - zw[o] * sum_window(xq - xz)
//   group 1: sum_window = ConvInteger(Xq, ones[1, C, k...], xz), one output channel, times zw as
//   int32 [1, O, 1, ...]; grouped: ConvInteger(Xq, Z, xz) with Z[o, ...] = zw[o] gives the
//   product directly. Exact in int32, so PaddleOCR's depthwise layers keep per-channel zero points.
// Known gaps: Conv with a computed bias is left in float.
#include <fmt/format.h>

#include <map>
#include <set>
#include <optional>

#include "mcompress/support/error.h"
#include "quantize_rewriter.h"

namespace mcompress::passes {
namespace {

struct ActivationQ {
  std::string q, scale, zero_point;
};

struct WeightQ {
  std::string q, scale, zero_point;
  std::vector<int32_t> zero_points;  // one value, or one per channel
};

bool all_equal(const std::vector<int32_t>& v) {
  return std::all_of(v.begin(), v.end(), [&](int32_t z) { return z == v[0]; });
}

class DynamicRewriter {
 public:
  explicit DynamicRewriter(Rewriter& rw) : rw_(rw), inits_(rw.inits) {}

  void run(const std::vector<Site>& sites) {
    std::set<size_t> at;  // the nodes rewritten
    for (const Site& s : sites) at.insert(s.node);
    rw_.expect(sites.size());
    std::vector<ir::Node> out;
    for (size_t i = 0; i < rw_.g->nodes.size(); ++i) {
      if (!at.count(i)) {
        out.push_back(std::move(rw_.g->nodes[i]));
        continue;
      }
      rewrite(rw_.g->nodes[i], out);
    }
    rw_.g->nodes = std::move(out);
    rw_.finish();
  }

 private:
  const ActivationQ& activation(const std::string& x, std::vector<ir::Node>& out) {
    auto it = acts_.find(x);
    if (it != acts_.end()) return it->second;
    ActivationQ a{rw_.fresh(x + "_quantized"), rw_.fresh(x + "_scale"), rw_.fresh(x + "_zero_point")};
    out.push_back(edit::make_node("DynamicQuantizeLinear", {x}, {a.q, a.scale, a.zero_point},
                                  rw_.fresh(x + "_DynamicQuantizeLinear")));
    return acts_.emplace(x, a).first->second;
  }

  // Quantizes `w` (already in the layout the integer op reads) and adds its initializers.
  WeightQ weight(const ir::Node& n, const std::string& name, const Tensor& w, int64_t axis, float alpha,
                 const Shape& scale_shape) {
    quant::QuantParams p = rw_.int8_params(w, axis, false);
    quant::Quantized q = quant::quantize_measured(w, p, &rw_.pool);
    std::vector<float> scale = p.scale;
    for (float& s : scale) s *= alpha;
    Tensor s_t = Tensor::from_values<float>(DType::f32, p.axis >= 0 ? scale_shape : Shape{}, std::span<const float>(scale));
    bool zp_vector = p.axis >= 0 && !all_equal(p.zero_point);
    std::vector<int32_t> zp = zp_vector ? p.zero_point : std::vector<int32_t>{p.zero_point[0]};
    Tensor z_t = zero_point_tensor(zp, DType::i8, zp_vector ? Shape{static_cast<int64_t>(zp.size())} : Shape{});
    int64_t bytes = total_bytes({&q.q, &s_t, &z_t});
    rw_.report(name, n.op_type, w, bytes, q.rel_error, fmt::format("int8/{}", granularity_name(p)), "quantize_int8_dynamic");
    return {rw_.add_init(name + "_quantized", std::move(q.q)), rw_.add_init(name + "_scale", std::move(s_t)),
            rw_.add_init(name + "_zero_point", std::move(z_t)), zp};
  }

  // zw[o] * sum over each output's window of (xq - xz), int32 [N, O, ...] (see the header).
  std::string zero_point_correction(const ir::Node& n, const std::string& base, const ActivationQ& a,
                                    const Shape& w_shape, const std::vector<int32_t>& zp, const Shape& scale_shape,
                                    std::vector<ir::Node>& out) {
    const int64_t group = n.attr_int("group", 1);
    Shape k_shape = w_shape;
    int64_t per_kernel = 1;
    for (size_t d = 1; d < k_shape.size(); ++d) per_kernel *= k_shape[d];
    if (group == 1) {
      k_shape[0] = 1;
      std::vector<int8_t> ones(static_cast<size_t>(per_kernel), 1);
      std::string k = rw_.add_init(n.inputs[1] + "_window_ones",
                                   Tensor::from_values<int8_t>(DType::i8, k_shape, std::span<const int8_t>(ones)));
      std::string sums = rw_.fresh(base + "_window_sums");
      out.push_back(edit::make_node("ConvInteger", {a.q, k, a.zero_point}, {sums}, rw_.fresh(base + "_window_ConvInteger"),
                                    n.attributes));
      std::string z = rw_.add_init(n.inputs[1] + "_zero_point_int32",
                                   Tensor::from_values<int32_t>(DType::i32, scale_shape, std::span<const int32_t>(zp)));
      std::string corr = rw_.fresh(base + "_zero_point_correction");
      out.push_back(edit::make_node("Mul", {sums, z}, {corr}, rw_.fresh(base + "_zero_point_Mul")));
      return corr;
    }
    std::vector<int8_t> kernel(static_cast<size_t>(w_shape[0] * per_kernel));
    for (int64_t o = 0; o < w_shape[0]; ++o)
      std::fill_n(kernel.begin() + o * per_kernel, per_kernel, static_cast<int8_t>(zp[static_cast<size_t>(o)]));
    std::string k = rw_.add_init(n.inputs[1] + "_zero_point_kernel",
                                 Tensor::from_values<int8_t>(DType::i8, w_shape, std::span<const int8_t>(kernel)));
    std::string corr = rw_.fresh(base + "_zero_point_correction");
    out.push_back(edit::make_node("ConvInteger", {a.q, k, a.zero_point}, {corr}, rw_.fresh(base + "_zero_point_ConvInteger"),
                                  n.attributes));
    return corr;
  }

  // Y = Cast(acc) * (x_scale * w_scale) [+ bias]
  void rescale(const ir::Node& n, const std::string& acc, const ActivationQ& a, const WeightQ& w,
               const std::string& bias, std::vector<ir::Node>& out) {
    const std::string base = n.name.empty() ? n.outputs[0] : n.name;
    std::string acc_f = rw_.fresh(acc + "_float");
    out.push_back(edit::make_node("Cast", {acc}, {acc_f}, rw_.fresh(base + "_Cast"),
                                  {edit::int_attr("to", static_cast<int64_t>(DType::f32))}));
    std::string scale = rw_.fresh(base + "_scales");
    out.push_back(edit::make_node("Mul", {a.scale, w.scale}, {scale}, rw_.fresh(base + "_scales_Mul")));
    std::string scaled = bias.empty() ? n.outputs[0] : rw_.fresh(base + "_scaled");
    out.push_back(edit::make_node("Mul", {acc_f, scale}, {scaled}, rw_.fresh(base + "_Mul")));
    if (!bias.empty()) out.push_back(edit::make_node("Add", {scaled, bias}, {n.outputs[0]}, rw_.fresh(base + "_bias_Add")));
  }

  void rewrite(const ir::Node& n, std::vector<ir::Node>& out) {
    const ActivationQ& a = activation(n.inputs[0], out);
    const std::string base = n.name.empty() ? n.outputs[0] : n.name;
    const std::string& w_name = n.inputs[1];
    const Tensor& w = inits_.at(w_name)->tensor;
    const bool has_bias = n.inputs.size() > 2 && !n.inputs[2].empty();
    std::string acc = rw_.fresh(base + "_int32");
    if (n.op_type == "Conv") {
      if (!conv_warned_) {
        rw_.result.warnings.push_back(
            "dynamic Conv (ConvInteger) is slow in ONNX Runtime (the bundled CNN runs 5.1x slower than fp32 there) and "
            "less accurate than the weight-only form that --mode dynamic gives Conv without Conv in --op-types; "
            "prefer --mode static for convolutions");
        conv_warned_ = true;
      }
      Shape scale_shape(static_cast<size_t>(w.rank()), 1);
      scale_shape[1] = w.shape()[0];
      WeightQ q = weight(n, w_name, w, 0, 1.0f, scale_shape);
      const std::vector<int32_t>& zp = q.zero_points;
      if (zp.size() <= 1) {
        out.push_back(edit::make_node("ConvInteger", {a.q, q.q, a.zero_point, q.zero_point}, {acc},
                                      rw_.fresh(base + "_ConvInteger"), n.attributes));
      } else {
        std::string raw = rw_.fresh(base + "_int32_raw");
        out.push_back(edit::make_node("ConvInteger", {a.q, q.q, a.zero_point}, {raw},
                                      rw_.fresh(base + "_ConvInteger"), n.attributes));
        std::string correction = zero_point_correction(n, base, a, w.shape(), zp, scale_shape, out);
        out.push_back(edit::make_node("Sub", {raw, correction}, {acc}, rw_.fresh(base + "_zero_point_Sub")));
      }
      std::string bias;
      if (has_bias) {
        Tensor b = inits_.at(n.inputs[2])->tensor;
        b.reshape(scale_shape);
        bias = rw_.add_init(n.inputs[2] + "_reshaped", std::move(b));
      }
      rescale(n, acc, a, q, bias, out);
      return;
    }
    // MatMul / Gemm: MatMulInteger reads W as [K, N].
    const bool trans_b = n.op_type == "Gemm" && n.attr_int("transB", 0) != 0;
    const float alpha = gemm_alpha(n);
    std::optional<Tensor> transposed;
    const Tensor& kn = trans_b ? transposed.emplace(transpose_2d(w)) : w;
    WeightQ q = weight(n, w_name, kn, 1, alpha, {kn.shape()[1]});
    out.push_back(edit::make_node("MatMulInteger", {a.q, q.q, a.zero_point, q.zero_point}, {acc},
                                  rw_.fresh(base + "_MatMulInteger")));
    std::string bias;
    if (has_bias) bias = gemm_bias(rw_, n, inits_);
    rescale(n, acc, a, q, bias, out);
  }

  Rewriter& rw_;
  std::map<std::string, ir::NamedTensor*> inits_;
  std::map<std::string, ActivationQ> acts_;
  bool conv_warned_ = false;
};

}  // namespace

void rewrite_dynamic(Rewriter& rw, const std::vector<Site>& sites) { DynamicRewriter(rw).run(sites); }

}  // namespace mcompress::passes
