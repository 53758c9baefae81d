// Kernel tests for the rnn ops: each op against reference values worked out by hand or by
// ONNX's reference implementation, across the attribute variants the ONNX spec defines. Random
// cases are checked against a scalar `_ref` recurrence written straight from the spec's equations.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "mcompress/support/error.h"
#include "support/op_runner.h"

namespace mcompress::test {
namespace {

constexpr float kTol = 1e-5f;

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], kTol * (1 + std::abs(want[i]))) << what << "[" << i << "]";
}

ir::Node rnn_node(const std::string& op, size_t inputs, size_t outputs, int64_t hidden, const std::string& direction) {
  ir::Node n = make_node(op, inputs, outputs);
  n.attributes.push_back(attr_int("hidden_size", hidden));
  n.attributes.push_back(attr_string("direction", direction));
  return n;
}

TEST(RnnOps, LstmStepByHand) {
  // I = H = B = S = 1. Gates i, o, f, c: W = (0.5, -0.5, 1, 2), R = (0.1, 0.2, 0.3, 0.4), x = 1,
  // h0 = 0.5, c0 = 0.25: i = σ(0.55), o = σ(-0.4), f = σ(1.15), c~ = tanh(2.2),
  // c = f·0.25 + i·c~ = 0.8086312, h = o·tanh(c) = 0.26841152.
  Tensor x = floats({1, 1, 1}, {1});
  Tensor w = floats({1, 4, 1}, {0.5f, -0.5f, 1, 2});
  Tensor r = floats({1, 4, 1}, {0.1f, 0.2f, 0.3f, 0.4f});
  Tensor h0 = floats({1, 1, 1}, {0.5f});
  Tensor c0 = floats({1, 1, 1}, {0.25f});
  auto out = run_op(rnn_node("LSTM", 7, 3, 1, "forward"), {&x, &w, &r, nullptr, nullptr, &h0, &c0});
  EXPECT_EQ(out[0].shape(), (Shape{1, 1, 1, 1}));
  EXPECT_NEAR(values_f32(out[0])[0], 0.26841152f, 1e-6);
  EXPECT_NEAR(values_f32(out[1])[0], 0.26841152f, 1e-6);
  EXPECT_NEAR(values_f32(out[2])[0], 0.8086312f, 1e-6);
}

TEST(RnnOps, GruStepByHandBothResetModes) {
  // Gates z, r, h: W = (0.5, -1, 2), R = (0.3, 0.6, -0.4), Wb = (0.1, 0.2, 0.3), Rb = (0, 0, 0.5),
  // x = 1, h0 = 0.5. z = σ(0.75), r = σ(-0.5);
  // linear_before_reset 0: h~ = tanh(2 + (r·0.5)·(-0.4) + 0.5 + 0.3);
  // linear_before_reset 1: h~ = tanh(2 + r·(-0.4·0.5 + 0.5) + 0.3); H = (1-z)·h~ + z·0.5.
  Tensor x = floats({1, 1, 1}, {1});
  Tensor w = floats({1, 3, 1}, {0.5f, -1, 2});
  Tensor r = floats({1, 3, 1}, {0.3f, 0.6f, -0.4f});
  Tensor b = floats({1, 6}, {0.1f, 0.2f, 0.3f, 0, 0, 0.5f});
  Tensor h0 = floats({1, 1, 1}, {0.5f});
  ir::Node node = rnn_node("GRU", 6, 2, 1, "forward");
  auto out = run_op(node, {&x, &w, &r, &b, nullptr, &h0});
  EXPECT_NEAR(values_f32(out[1])[0], 0.657663f, 1e-6);
  node.attributes.push_back(attr_int("linear_before_reset", 1));
  auto lbr = run_op(node, {&x, &w, &r, &b, nullptr, &h0});
  EXPECT_NEAR(values_f32(lbr[1])[0], 0.6553092f, 1e-6);
}

// ---- scalar reference ----------------------------------------------------------------------

float sigmoid(float v) { return 1.f / (1.f + std::exp(-v)); }

struct RefCase {
  std::string op;  // RNN, GRU, LSTM
  int64_t S, B, I, H;
  std::string direction;
  std::vector<int64_t> lengths;  // empty: all S
  bool peepholes = false;
  float clip = 0;  // 0: none
  bool linear_before_reset = false;
  bool input_forget = false;
};

struct RefOut {
  std::vector<float> y, y_h, y_c;  // layout 0
};

int64_t gate_count(const std::string& op) { return op == "RNN" ? 1 : op == "GRU" ? 3 : 4; }

// Straight from the ONNX equations, one element at a time, default activations.
RefOut recurrent_ref(const RefCase& k, const std::vector<float>& x, const std::vector<float>& w,
                     const std::vector<float>& r, const std::vector<float>& b, const std::vector<float>& h0,
                     const std::vector<float>& c0, const std::vector<float>& p) {
  int64_t D = k.direction == "bidirectional" ? 2 : 1, G = gate_count(k.op), H = k.H, I = k.I, B = k.B, S = k.S;
  RefOut o;
  o.y.assign(S * D * B * H, 0.f);
  o.y_h.assign(D * B * H, 0.f);
  o.y_c.assign(D * B * H, 0.f);
  auto clip = [&](float v) { return k.clip > 0 ? std::clamp(v, -k.clip, k.clip) : v; };
  for (int64_t d = 0; d < D; ++d) {
    bool reverse = k.direction == "reverse" || d == 1;
    for (int64_t bi = 0; bi < B; ++bi) {
      int64_t len = k.lengths.empty() ? S : k.lengths[bi];
      std::vector<float> h(h0.begin() + (d * B + bi) * H, h0.begin() + (d * B + bi + 1) * H);
      std::vector<float> c(H, 0.f);
      if (k.op == "LSTM") c.assign(c0.begin() + (d * B + bi) * H, c0.begin() + (d * B + bi + 1) * H);
      for (int64_t s = 0; s < len; ++s) {
        int64_t t = reverse ? len - 1 - s : s;
        // pre[g][j] = x·W[g*H+j] + Wb; rec[g][j] = h·R[g*H+j] + Rb.
        std::vector<float> pre(G * H), rec(G * H);
        for (int64_t gj = 0; gj < G * H; ++gj) {
          float a = b[d * 2 * G * H + gj], e = b[d * 2 * G * H + G * H + gj];
          for (int64_t i = 0; i < I; ++i) a += x[(t * B + bi) * I + i] * w[(d * G * H + gj) * I + i];
          for (int64_t j = 0; j < H; ++j) e += h[j] * r[(d * G * H + gj) * H + j];
          pre[gj] = a;
          rec[gj] = e;
        }
        std::vector<float> nh(H), nc(H), reset(H);
        if (k.op == "GRU")
          for (int64_t j = 0; j < H; ++j) reset[j] = sigmoid(clip(pre[H + j] + rec[H + j]));
        for (int64_t j = 0; j < H; ++j) {
          if (k.op == "RNN") {
            nh[j] = std::tanh(clip(pre[j] + rec[j]));
          } else if (k.op == "GRU") {
            float z = sigmoid(clip(pre[j] + rec[j]));
            float rg = reset[j];
            float cand;
            if (k.linear_before_reset) {
              cand = std::tanh(clip(pre[2 * H + j] + rg * rec[2 * H + j]));
            } else {
              float e = b[d * 6 * H + 3 * H + 2 * H + j];
              for (int64_t m = 0; m < H; ++m) e += reset[m] * h[m] * r[(d * 3 * H + 2 * H + j) * H + m];
              cand = std::tanh(clip(pre[2 * H + j] + e));
            }
            nh[j] = (1 - z) * cand + z * h[j];
          } else {
            float pi = p.empty() ? 0 : p[d * 3 * H + j], po = p.empty() ? 0 : p[d * 3 * H + H + j];
            float pf = p.empty() ? 0 : p[d * 3 * H + 2 * H + j];
            float ig = sigmoid(clip(pre[j] + rec[j] + pi * c[j]));
            float fg = k.input_forget ? 1 - ig : sigmoid(clip(pre[2 * H + j] + rec[2 * H + j] + pf * c[j]));
            float cg = std::tanh(clip(pre[3 * H + j] + rec[3 * H + j]));
            nc[j] = fg * c[j] + ig * cg;
            float og = sigmoid(clip(pre[H + j] + rec[H + j] + po * nc[j]));
            nh[j] = og * std::tanh(nc[j]);
          }
        }
        h = nh;
        if (k.op == "LSTM") c = nc;
        for (int64_t j = 0; j < H; ++j) o.y[((t * D + d) * B + bi) * H + j] = h[j];
      }
      for (int64_t j = 0; j < H; ++j) {
        o.y_h[(d * B + bi) * H + j] = h[j];
        o.y_c[(d * B + bi) * H + j] = c[j];
      }
    }
  }
  return o;
}

TEST(RnnOps, MatchReferenceAcrossVariants) {
  std::vector<RefCase> cases = {
      {"RNN", 4, 3, 5, 6, "forward", {}},
      {"RNN", 4, 3, 5, 6, "bidirectional", {4, 1, 2}, false, 0.8f},
      {"GRU", 5, 2, 3, 4, "reverse", {3, 5}},
      {"GRU", 5, 3, 3, 4, "bidirectional", {5, 2, 4}, false, 0.6f},
      {"GRU", 5, 3, 3, 4, "bidirectional", {1, 5, 3}, false, 0, true},
      {"LSTM", 6, 2, 4, 5, "forward", {}, true},
      {"LSTM", 6, 3, 4, 5, "bidirectional", {6, 3, 1}, true, 0.9f},
      {"LSTM", 4, 2, 3, 3, "reverse", {2, 4}, true, 0, false, true},
  };
  uint32_t seed = 100;
  for (const RefCase& k : cases) {
    std::string what = k.op + " " + k.direction;
    int64_t D = k.direction == "bidirectional" ? 2 : 1, G = gate_count(k.op), H = k.H;
    auto xv = random_floats(k.S * k.B * k.I, seed++);
    auto wv = random_floats(D * G * H * k.I, seed++, 0.5f);
    auto rv = random_floats(D * G * H * H, seed++, 0.5f);
    auto bv = random_floats(D * 2 * G * H, seed++, 0.3f);
    auto hv = random_floats(D * k.B * H, seed++);
    auto cv = random_floats(D * k.B * H, seed++);
    auto pv = k.peepholes ? random_floats(D * 3 * H, seed++, 0.5f) : std::vector<float>{};
    Tensor x = floats({k.S, k.B, k.I}, xv), w = floats({D, G * H, k.I}, wv), r = floats({D, G * H, H}, rv);
    Tensor b = floats({D, 2 * G * H}, bv), h0 = floats({D, k.B, H}, hv), c0 = floats({D, k.B, H}, cv);
    Tensor p = k.peepholes ? floats({D, 3 * H}, pv) : Tensor();
    std::vector<int32_t> lens32(k.lengths.begin(), k.lengths.end());
    Tensor lens = k.lengths.empty() ? Tensor() : Tensor::from_values<int32_t>(DType::i32, {k.B}, lens32);
    ir::Node node = rnn_node(k.op, k.op == "LSTM" ? 8 : 6, k.op == "LSTM" ? 3 : 2, H, k.direction);
    if (k.clip > 0) node.attributes.push_back(attr_float("clip", k.clip));
    if (k.linear_before_reset) node.attributes.push_back(attr_int("linear_before_reset", 1));
    if (k.input_forget) node.attributes.push_back(attr_int("input_forget", 1));
    std::vector<const Tensor*> inputs = {&x, &w, &r, &b, k.lengths.empty() ? nullptr : &lens, &h0};
    if (k.op == "LSTM") {
      inputs.push_back(&c0);
      inputs.push_back(k.peepholes ? &p : nullptr);
    }
    RefOut ref = recurrent_ref(k, xv, wv, rv, bv, hv, cv, pv);
    auto one = run_op(node, inputs, 14, 1);
    auto two = run_op(node, inputs, 14, 2);
    expect_near(values_f32(one[0]), ref.y, what + " Y");
    expect_near(values_f32(one[1]), ref.y_h, what + " Y_h");
    if (k.op == "LSTM") expect_near(values_f32(one[2]), ref.y_c, what + " Y_c");
    for (size_t i = 0; i < one.size(); ++i) EXPECT_EQ(one[i], two[i]) << what << ": thread count changed output " << i;
  }
}

// Layout 1 ([batch, seq, ...]) gives layout 0's results, transposed.
TEST(RnnOps, Layout1MatchesLayout0) {
  const int64_t S = 4, B = 3, I = 2, H = 3;
  for (std::string op : {"RNN", "GRU", "LSTM"}) {
    int64_t G = gate_count(op), D = 2;
    auto xv = random_floats(S * B * I, 1);
    auto hv = random_floats(D * B * H, 2);
    Tensor w = floats({D, G * H, I}, random_floats(D * G * H * I, 3)),
           r = floats({D, G * H, H}, random_floats(D * G * H * H, 4));
    std::vector<int32_t> lens32 = {4, 2, 3};
    Tensor lens = Tensor::from_values<int32_t>(DType::i32, {B}, lens32);
    Tensor x0 = floats({S, B, I}, xv), h0 = floats({D, B, H}, hv);
    std::vector<float> x1v(S * B * I), h1v(D * B * H);
    for (int64_t s = 0; s < S; ++s)
      for (int64_t b = 0; b < B; ++b)
        for (int64_t i = 0; i < I; ++i) x1v[(b * S + s) * I + i] = xv[(s * B + b) * I + i];
    for (int64_t d = 0; d < D; ++d)
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < H; ++j) h1v[(b * D + d) * H + j] = hv[(d * B + b) * H + j];
    Tensor x1 = floats({B, S, I}, x1v), h1 = floats({B, D, H}, h1v);
    ir::Node node0 = rnn_node(op, 6, 2, H, "bidirectional");
    ir::Node node1 = node0;
    node1.attributes.push_back(attr_int("layout", 1));
    auto out0 = run_op(node0, {&x0, &w, &r, nullptr, &lens, &h0}, 14);
    auto out1 = run_op(node1, {&x1, &w, &r, nullptr, &lens, &h1}, 14);
    ASSERT_EQ(out1[0].shape(), (Shape{B, S, D, H}));
    ASSERT_EQ(out1[1].shape(), (Shape{B, D, H}));
    auto y0 = values_f32(out0[0]), y1 = values_f32(out1[0]);
    auto yh0 = values_f32(out0[1]), yh1 = values_f32(out1[1]);
    for (int64_t s = 0; s < S; ++s)
      for (int64_t d = 0; d < D; ++d)
        for (int64_t b = 0; b < B; ++b)
          for (int64_t j = 0; j < H; ++j)
            EXPECT_EQ(y1[((b * S + s) * D + d) * H + j], y0[((s * D + d) * B + b) * H + j]) << op;
    for (int64_t d = 0; d < D; ++d)
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < H; ++j) EXPECT_EQ(yh1[(b * D + d) * H + j], yh0[(d * B + b) * H + j]) << op;
  }
}

TEST(RnnOps, ActivationsTakeAlphaBetaInOrder) {
  // RNN with HardSigmoid(alpha 0.5, beta 0.25) and zero weights except W = 1: H = clamp(0.5x + 0.25, 0, 1).
  Tensor x = floats({3, 1, 1}, {-1, 0.5f, 4});
  Tensor w = floats({1, 1, 1}, {1});
  Tensor r = floats({1, 1, 1}, {0});
  ir::Node node = rnn_node("RNN", 3, 1, 1, "forward");
  ir::Attribute acts;
  acts.name = "activations";
  acts.type = ir::AttrType::strings;
  acts.strings = {"HardSigmoid"};
  node.attributes.push_back(acts);
  node.attributes.push_back(attr_floats("activation_alpha", {0.5f}));
  node.attributes.push_back(attr_floats("activation_beta", {0.25f}));
  auto y = run_op(node, {&x, &w, &r});
  EXPECT_EQ(values_f32(y[0]), (std::vector<float>{0, 0.5f, 1}));
  node.attributes[2].strings = {"Bogus"};
  EXPECT_THROW(run_op(node, {&x, &w, &r}), Error);
}

TEST(RnnOps, RejectsMismatchedShapes) {
  Tensor x = floats({2, 1, 3}, std::vector<float>(6, 0));
  Tensor w = floats({1, 8, 3}, std::vector<float>(24, 0));  // LSTM needs 4H = 8 rows for H = 2: fine
  Tensor r = floats({1, 8, 3}, std::vector<float>(24, 0));  // but R must be [1, 8, 2]
  EXPECT_THROW(run_op(rnn_node("LSTM", 3, 1, 2, "forward"), {&x, &w, &r}), Error);
  Tensor r2 = floats({1, 8, 2}, std::vector<float>(16, 0));
  Tensor bad_h = floats({1, 2, 2}, std::vector<float>(4, 0));
  EXPECT_THROW(run_op(rnn_node("LSTM", 6, 1, 2, "forward"), {&x, &w, &r2, nullptr, nullptr, &bad_h}), Error);
  EXPECT_NO_THROW(run_op(rnn_node("LSTM", 3, 1, 2, "forward"), {&x, &w, &r2}));
}

}  // namespace
}  // namespace mcompress::test
