// Recurrent ops: RNN, GRU and LSTM — forward, reverse and bidirectional, per-batch
// sequence_lens, initial states, LSTM peepholes and input_forget, GRU linear_before_reset, clip,
// the optional activation functions with their alpha/beta, and layout 0 ([seq, batch, ...]) or 1
// ([batch, seq, ...]).
//
// The input projection X·Wᵀ (+ biases) of every time step is one GEMM up front; each step then
// adds H·Rᵀ. Directions run in parallel; each is sequential, so the thread count never changes
// the arithmetic.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "kernels.h"

namespace mcompress::exec {
namespace {

template <typename T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMatrix = Eigen::Map<const RowMajor<float>>;
using Matrix = Eigen::Map<RowMajor<float>>;

// ---- activation functions ------------------------------------------------------------------

enum class Act {
  relu,
  tanh,
  sigmoid,
  affine,
  leaky_relu,
  thresholded_relu,
  scaled_tanh,
  hard_sigmoid,
  elu,
  softsign,
  softplus
};

// alpha/beta are taken in order from activation_alpha/activation_beta by the functions that use
// them (as ONNX Runtime does); the defaults are those of the matching ONNX operators.
struct ActDef {
  std::string_view name;  // lower case; attribute values match case-insensitively
  Act act;
  bool uses_alpha, uses_beta;
  float alpha, beta;
};

constexpr ActDef kActs[] = {
    {"relu", Act::relu, false, false, 0, 0},
    {"tanh", Act::tanh, false, false, 0, 0},
    {"sigmoid", Act::sigmoid, false, false, 0, 0},
    {"affine", Act::affine, true, true, 1.f, 0.f},
    {"leakyrelu", Act::leaky_relu, true, false, 0.01f, 0},
    {"thresholdedrelu", Act::thresholded_relu, true, false, 1.f, 0},
    {"scaledtanh", Act::scaled_tanh, true, true, 1.f, 1.f},
    {"hardsigmoid", Act::hard_sigmoid, true, true, 0.2f, 0.5f},
    {"elu", Act::elu, true, false, 1.f, 0},
    {"softsign", Act::softsign, false, false, 0, 0},
    {"softplus", Act::softplus, false, false, 0, 0},
};

struct Activation {
  Act act = Act::sigmoid;
  float alpha = 0, beta = 0;

  void apply(float* p, int64_t n) const {
    switch (act) {
      case Act::relu:
        for (int64_t i = 0; i < n; ++i) p[i] = std::max(p[i], 0.f);
        return;
      case Act::tanh:
        for (int64_t i = 0; i < n; ++i) p[i] = std::tanh(p[i]);
        return;
      case Act::sigmoid:
        for (int64_t i = 0; i < n; ++i) p[i] = 1.f / (1.f + std::exp(-p[i]));
        return;
      case Act::affine:
        for (int64_t i = 0; i < n; ++i) p[i] = alpha * p[i] + beta;
        return;
      case Act::leaky_relu:
        for (int64_t i = 0; i < n; ++i) p[i] = p[i] >= 0 ? p[i] : alpha * p[i];
        return;
      case Act::thresholded_relu:
        for (int64_t i = 0; i < n; ++i) p[i] = p[i] > alpha ? p[i] : 0.f;
        return;
      case Act::scaled_tanh:
        for (int64_t i = 0; i < n; ++i) p[i] = alpha * std::tanh(beta * p[i]);
        return;
      case Act::hard_sigmoid:
        for (int64_t i = 0; i < n; ++i) p[i] = std::clamp(alpha * p[i] + beta, 0.f, 1.f);
        return;
      case Act::elu:
        for (int64_t i = 0; i < n; ++i) p[i] = p[i] >= 0 ? p[i] : alpha * (std::exp(p[i]) - 1.f);
        return;
      case Act::softsign:
        for (int64_t i = 0; i < n; ++i) p[i] = p[i] / (1.f + std::abs(p[i]));
        return;
      case Act::softplus:
        for (int64_t i = 0; i < n; ++i) p[i] = std::log1p(std::exp(p[i]));
        return;
    }
  }
};

// `per_direction` functions for each direction: the `activations` attribute (one list for every
// direction, or one list that all directions share), else the cell's defaults.
std::vector<Activation> activations(const OpContext& ctx, std::span<const Act> defaults, int64_t directions) {
  const ir::Attribute* attr = ctx.node().attr("activations");
  size_t per_direction = defaults.size();
  if (!attr || attr->strings.empty()) {
    std::vector<Activation> out;
    for (int64_t d = 0; d < directions; ++d)
      for (Act a : defaults) out.push_back({a, 0, 0});
    return out;
  }
  std::vector<std::string> names = attr->strings;
  if (names.size() == per_direction && directions == 2)
    names.insert(names.end(), attr->strings.begin(), attr->strings.end());
  if (names.size() != per_direction * static_cast<size_t>(directions))
    ctx.fail("activations lists " + std::to_string(attr->strings.size()) + " functions, expected " +
             std::to_string(per_direction * directions));
  std::vector<float> alphas = ctx.attr_floats("activation_alpha"), betas = ctx.attr_floats("activation_beta");
  size_t next_alpha = 0, next_beta = 0;
  std::vector<Activation> out;
  for (const std::string& name : names) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    const ActDef* def = nullptr;
    for (const ActDef& d : kActs)
      if (d.name == lower) def = &d;
    if (!def) ctx.unsupported("activation function '" + name + "' is not supported");
    Activation a{def->act, def->alpha, def->beta};
    if (def->uses_alpha && next_alpha < alphas.size()) a.alpha = alphas[next_alpha++];
    if (def->uses_beta && next_beta < betas.size()) a.beta = betas[next_beta++];
    out.push_back(a);
  }
  return out;
}

// ---- the shared recurrence ---------------------------------------------------------------

enum class Cell { rnn, gru, lstm };

struct CellSpec {
  Cell cell;
  int64_t gates;                  // weight blocks in W and R: 1 (RNN), 3 (GRU z,r,h), 4 (LSTM i,o,f,c)
  std::span<const Act> defaults;  // activation functions per direction
};

constexpr Act kRnnDefaults[] = {Act::tanh};
constexpr Act kGruDefaults[] = {Act::sigmoid, Act::tanh};
constexpr Act kLstmDefaults[] = {Act::sigmoid, Act::tanh, Act::tanh};

// Everything one direction needs, with tensors already in [seq, batch, ...] order.
struct Problem {
  Cell cell;
  int64_t seq = 0, batch = 0, input = 0, hidden = 0, gates = 0, directions = 1;
  bool reverse_only = false;
  bool has_clip = false;
  float clip = 0;
  bool input_forget = false, linear_before_reset = false;
  std::vector<float> x;          // [seq, batch, input]
  const float* w = nullptr;      // [dirs, gates*H, input]
  const float* r = nullptr;      // [dirs, gates*H, H]
  const float* b = nullptr;      // [dirs, 2*gates*H] or null
  const float* p = nullptr;      // [dirs, 3H] or null (LSTM)
  std::vector<float> h0, c0;     // [dirs, batch, H] (zeros when absent)
  std::vector<int64_t> lengths;  // [batch]
  std::vector<Activation> acts;  // per direction, spec.defaults.size() each
  // Results, [seq, dirs, batch, H] and [dirs, batch, H].
  std::vector<float> y, y_h, y_c;
};

void clip_values(const Problem& pr, float* v, int64_t n) {
  if (!pr.has_clip) return;
  for (int64_t i = 0; i < n; ++i) v[i] = std::clamp(v[i], -pr.clip, pr.clip);
}

// One direction: `reverse` walks each batch item's sequence from its last valid step back.
void run_direction(Problem& pr, int64_t dir, bool reverse) {
  const int64_t S = pr.seq, B = pr.batch, I = pr.input, H = pr.hidden, G = pr.gates;
  const int64_t GH = G * H;
  const Activation* act = pr.acts.data() + dir * static_cast<int64_t>(pr.acts.size() / pr.directions);
  ConstMatrix w(pr.w + dir * GH * I, GH, I);
  ConstMatrix r(pr.r + dir * GH * H, GH, H);
  const float* wb = pr.b ? pr.b + dir * 2 * GH : nullptr;
  const float* rb = pr.b ? wb + GH : nullptr;
  // X·Wᵀ + Wb + Rb for every step; GRU with linear_before_reset keeps Rb_h for inside r ⊙ (...).
  RowMajor<float> xw(S * B, GH);
  if (S * B > 0) {
    if (I > 0)
      xw.noalias() = ConstMatrix(pr.x.data(), S * B, I) * w.transpose();
    else
      xw.setZero();
  }
  if (wb) {
    Eigen::Matrix<float, 1, Eigen::Dynamic> bias(GH);
    for (int64_t j = 0; j < GH; ++j) {
      bool keep_rb_out = pr.cell == Cell::gru && pr.linear_before_reset && j >= 2 * H;
      bias[j] = wb[j] + (keep_rb_out ? 0.f : rb[j]);
    }
    xw.rowwise() += bias;
  }
  RowMajor<float> h = ConstMatrix(pr.h0.data() + dir * B * H, B, H);
  RowMajor<float> c =
      pr.cell == Cell::lstm ? RowMajor<float>(ConstMatrix(pr.c0.data() + dir * B * H, B, H)) : RowMajor<float>();
  const float* peep = pr.p ? pr.p + dir * 3 * H : nullptr;
  RowMajor<float> hr(B, GH), gates(B, GH), rh(B, H), rh_r(B, H);
  std::vector<float> cand(static_cast<size_t>(H));
  for (int64_t s = 0; s < S; ++s) {
    if (pr.cell == Cell::gru && !pr.linear_before_reset) {
      hr.leftCols(2 * H).noalias() = h * r.topRows(2 * H).transpose();
    } else {
      hr.noalias() = h * r.transpose();
    }
    for (int64_t bi = 0; bi < B; ++bi) {
      int64_t len = pr.lengths[static_cast<size_t>(bi)];
      if (s >= len) continue;  // past this item's end: state kept, output left 0
      int64_t t = reverse ? len - 1 - s : s;
      const float* xrow = xw.data() + (t * B + bi) * GH;
      float* g = gates.data() + bi * GH;
      const float* hrow = hr.data() + bi * GH;
      float* hb = h.data() + bi * H;
      switch (pr.cell) {
        case Cell::rnn: {
          for (int64_t j = 0; j < H; ++j) g[j] = xrow[j] + hrow[j];
          clip_values(pr, g, H);
          act[0].apply(g, H);
          std::copy(g, g + H, hb);
          break;
        }
        case Cell::gru: {
          // z, r first; the candidate needs r.
          for (int64_t j = 0; j < 2 * H; ++j) g[j] = xrow[j] + hrow[j];
          clip_values(pr, g, 2 * H);
          act[0].apply(g, 2 * H);
          float* z = g;
          float* rg = g + H;
          float* hh = g + 2 * H;
          if (pr.linear_before_reset) {
            for (int64_t j = 0; j < H; ++j)
              hh[j] = xrow[2 * H + j] + rg[j] * (hrow[2 * H + j] + (rb ? rb[2 * H + j] : 0.f));
          } else {
            // (r ⊙ H) · R_hᵀ for this row.
            Eigen::Map<Eigen::Matrix<float, 1, Eigen::Dynamic>> rhrow(rh.data() + bi * H, H);
            for (int64_t j = 0; j < H; ++j) rhrow[j] = rg[j] * hb[j];
            Eigen::Map<Eigen::Matrix<float, 1, Eigen::Dynamic>> out(rh_r.data() + bi * H, H);
            out.noalias() = rhrow * r.bottomRows(H).transpose();
            for (int64_t j = 0; j < H; ++j) hh[j] = xrow[2 * H + j] + out[j];
          }
          clip_values(pr, hh, H);
          act[1].apply(hh, H);
          for (int64_t j = 0; j < H; ++j) hb[j] = (1.f - z[j]) * hh[j] + z[j] * hb[j];
          break;
        }
        case Cell::lstm: {
          float* cb = c.data() + bi * H;
          for (int64_t j = 0; j < GH; ++j) g[j] = xrow[j] + hrow[j];
          float* ig = g;
          float* og = g + H;
          float* fg = g + 2 * H;
          float* cg = g + 3 * H;
          if (peep)
            for (int64_t j = 0; j < H; ++j) ig[j] += peep[j] * cb[j];
          clip_values(pr, ig, H);
          act[0].apply(ig, H);
          if (pr.input_forget) {
            for (int64_t j = 0; j < H; ++j) fg[j] = 1.f - ig[j];
          } else {
            if (peep)
              for (int64_t j = 0; j < H; ++j) fg[j] += peep[2 * H + j] * cb[j];
            clip_values(pr, fg, H);
            act[0].apply(fg, H);
          }
          clip_values(pr, cg, H);
          act[1].apply(cg, H);
          for (int64_t j = 0; j < H; ++j) cb[j] = fg[j] * cb[j] + ig[j] * cg[j];
          if (peep)
            for (int64_t j = 0; j < H; ++j) og[j] += peep[H + j] * cb[j];
          clip_values(pr, og, H);
          act[0].apply(og, H);
          std::copy(cb, cb + H, cand.data());
          act[2].apply(cand.data(), H);
          for (int64_t j = 0; j < H; ++j) hb[j] = og[j] * cand[static_cast<size_t>(j)];
          break;
        }
      }
      std::copy(hb, hb + H, pr.y.data() + ((t * pr.directions + dir) * B + bi) * H);
    }
  }
  std::copy(h.data(), h.data() + B * H, pr.y_h.data() + dir * B * H);
  if (pr.cell == Cell::lstm) std::copy(c.data(), c.data() + B * H, pr.y_c.data() + dir * B * H);
}

const float* optional_f32(const OpContext& ctx, size_t i, const Shape& expected, const char* name) {
  const Tensor* t = ctx.input(i);
  if (!t) return nullptr;
  if (t->dtype() != DType::f32)
    ctx.unsupported(std::string(name) + " of type " + std::string(dtype_name(t->dtype())) + " is not supported");
  if (t->shape() != expected)
    ctx.fail(std::string(name) + " has shape " + shape_string(t->shape()) + ", expected " + shape_string(expected));
  return t->data<float>();
}

// [a, b, rest] → [b, a, rest] (layout 1 ↔ layout 0).
std::vector<float> swap_leading(const float* src, int64_t a, int64_t b, int64_t rest) {
  std::vector<float> out(static_cast<size_t>(a * b * rest));
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j)
      std::copy(src + (i * b + j) * rest, src + (i * b + j + 1) * rest, out.data() + (j * a + i) * rest);
  return out;
}

void recurrent(OpContext& ctx, const CellSpec& spec) {
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  const Tensor& r = ctx.in(2);
  for (const Tensor* t : {&x, &w, &r})
    if (t->dtype() != DType::f32)
      ctx.unsupported("input type " + std::string(dtype_name(t->dtype())) + " is not supported");
  if (x.rank() != 3 || w.rank() != 3 || r.rank() != 3)
    ctx.fail("X, W and R must have rank 3, got " + shape_string(x.shape()) + ", " + shape_string(w.shape()) + ", " +
             shape_string(r.shape()));
  Problem pr;
  pr.cell = spec.cell;
  pr.gates = spec.gates;
  std::string direction = ctx.attr_string("direction", "forward");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional")
    ctx.fail("unknown direction '" + direction + "'");
  pr.directions = direction == "bidirectional" ? 2 : 1;
  pr.reverse_only = direction == "reverse";
  int64_t layout = ctx.attr_int("layout", 0);
  if (layout != 0 && layout != 1) ctx.fail("layout must be 0 or 1");
  pr.seq = layout == 0 ? x.shape()[0] : x.shape()[1];
  pr.batch = layout == 0 ? x.shape()[1] : x.shape()[0];
  pr.input = x.shape()[2];
  pr.hidden = r.shape()[2];
  int64_t H = pr.hidden, B = pr.batch, D = pr.directions, G = pr.gates;
  if (ctx.has_attr("hidden_size") && ctx.attr_int("hidden_size", H) != H)
    ctx.fail("hidden_size " + std::to_string(ctx.attr_int("hidden_size", H)) + " differs from R's " +
             std::to_string(H));
  if (w.shape() != Shape{D, G * H, pr.input})
    ctx.fail("W has shape " + shape_string(w.shape()) + ", expected " + shape_string({D, G * H, pr.input}));
  if (r.shape() != Shape{D, G * H, H})
    ctx.fail("R has shape " + shape_string(r.shape()) + ", expected " + shape_string({D, G * H, H}));
  pr.w = w.data<float>();
  pr.r = r.data<float>();
  pr.b = optional_f32(ctx, 3, {D, 2 * G * H}, "B");
  pr.has_clip = ctx.has_attr("clip");
  pr.clip = ctx.attr_float("clip", 0);
  pr.input_forget = spec.cell == Cell::lstm && ctx.attr_int("input_forget", 0) != 0;
  pr.linear_before_reset = spec.cell == Cell::gru && ctx.attr_int("linear_before_reset", 0) != 0;
  pr.acts = activations(ctx, spec.defaults, D);

  pr.lengths.assign(static_cast<size_t>(B), pr.seq);
  if (const Tensor* lens = ctx.input(4)) {
    std::vector<int64_t> v = to_int64s(ctx, *lens);
    if (static_cast<int64_t>(v.size()) != B) ctx.fail("sequence_lens must have one value per batch item");
    for (int64_t len : v)
      if (len < 0 || len > pr.seq)
        ctx.fail("sequence length " + std::to_string(len) + " is outside [0, " + std::to_string(pr.seq) + "]");
    pr.lengths = v;
  }
  Shape state_shape = layout == 0 ? Shape{D, B, H} : Shape{B, D, H};
  auto initial_state = [&](size_t i, const char* name) {
    const float* p = optional_f32(ctx, i, state_shape, name);
    if (!p) return std::vector<float>(static_cast<size_t>(D * B * H), 0.f);
    if (layout == 0) return std::vector<float>(p, p + D * B * H);
    return swap_leading(p, B, D, H);
  };
  pr.h0 = initial_state(5, "initial_h");
  if (spec.cell == Cell::lstm) {
    pr.c0 = initial_state(6, "initial_c");
    pr.p = optional_f32(ctx, 7, {D, 3 * H}, "P");
  }
  pr.x = layout == 0 ? std::vector<float>(x.data<float>(), x.data<float>() + x.numel())
                     : swap_leading(x.data<float>(), B, pr.seq, pr.input);
  pr.y.assign(static_cast<size_t>(pr.seq * D * B * H), 0.f);
  pr.y_h.assign(static_cast<size_t>(D * B * H), 0.f);
  if (spec.cell == Cell::lstm) pr.y_c.assign(static_cast<size_t>(D * B * H), 0.f);

  ctx.pool().parallel_for(D, 1, [&](int64_t begin, int64_t end) {
    for (int64_t d = begin; d < end; ++d) run_direction(pr, d, pr.reverse_only || d == 1);
  });

  if (ctx.has_output(0)) {
    Shape y_shape = layout == 0 ? Shape{pr.seq, D, B, H} : Shape{B, pr.seq, D, H};
    // Layout 1 is [batch, seq, dirs, H]: swap seq with the (dirs, batch) pair, then dirs with batch.
    std::vector<float> y = pr.y;
    if (layout == 1) {
      std::vector<float> out(y.size());
      for (int64_t t = 0; t < pr.seq; ++t)
        for (int64_t d = 0; d < D; ++d)
          for (int64_t b = 0; b < B; ++b)
            std::copy(y.data() + ((t * D + d) * B + b) * H, y.data() + ((t * D + d) * B + b + 1) * H,
                      out.data() + ((b * pr.seq + t) * D + d) * H);
      y = std::move(out);
    }
    ctx.out(0) = Tensor::from_values<float>(DType::f32, y_shape, y);
  }
  auto state_out = [&](const std::vector<float>& v) {
    std::vector<float> out = layout == 0 ? v : swap_leading(v.data(), D, B, H);
    return Tensor::from_values<float>(DType::f32, state_shape, out);
  };
  if (ctx.has_output(1)) ctx.out(1) = state_out(pr.y_h);
  if (spec.cell == Cell::lstm && ctx.has_output(2)) ctx.out(2) = state_out(pr.y_c);
}

void rnn(OpContext& ctx) { recurrent(ctx, {Cell::rnn, 1, kRnnDefaults}); }
void gru(OpContext& ctx) { recurrent(ctx, {Cell::gru, 3, kGruDefaults}); }
void lstm(OpContext& ctx) { recurrent(ctx, {Cell::lstm, 4, kLstmDefaults}); }

constexpr OpDef kOps[] = {
    {"", "RNN", rnn},
    {"", "GRU", gru},
    {"", "LSTM", lstm},
};

}  // namespace

std::span<const OpDef> rnn_ops() { return kOps; }

}  // namespace mcompress::exec
