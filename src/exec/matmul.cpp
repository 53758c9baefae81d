// Dense products: the tiled GEMM every dense kernel runs on (fixed tiles of C over the pool, each
// tile one sgemm call for plain float operands, one Eigen call otherwise), MatMul (batched, numpy
// broadcasting of batch dims, 1-D operands), Gemm and Einsum.
// GCC 12 reports Eigen's AVX-512 packet transpose/reduction helpers as using uninitialised
// registers (they start from _mm512_undefined_*); the warnings are false positives.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <type_traits>

#include "nn_kernels.h"
#include "sgemm.h"

namespace mcompress::exec {
namespace {

// Work (multiply-adds) per tile: large enough that Eigen's packing is amortised, small enough
// that a 100-image batch spreads over the pool. Tiles below kGemmMinTile rows/columns lose more
// to packing than they gain in balance.
constexpr double kGemmTileWork = 1 << 22;
constexpr int64_t kGemmMinTile = 32;
constexpr int64_t kGemmTileAlign = 16;

template <typename T>
struct Operand {
  const T* data;
  int64_t ld;
  bool trans;
};

template <typename T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ConstView = Eigen::Map<const RowMajor<T>, 0, Eigen::OuterStride<>>;
template <typename T>
using View = Eigen::Map<RowMajor<T>, 0, Eigen::OuterStride<>>;

// The stored matrix behind op(X) of shape rows x cols.
template <typename T>
ConstView<T> stored(const Operand<T>& x, int64_t rows, int64_t cols) {
  if (x.trans) return ConstView<T>(x.data, cols, rows, Eigen::OuterStride<>(x.ld));
  return ConstView<T>(x.data, rows, cols, Eigen::OuterStride<>(x.ld));
}

template <typename T, typename A, typename B>
void product_into(View<T>& c, const A& a, const B& b, T alpha, bool accumulate) {
  if (accumulate) {
    if (alpha == T(1)) c.noalias() += a * b;
    else c.noalias() += alpha * a * b;
    return;
  }
  if (alpha == T(1)) c.noalias() = a * b;
  else c.noalias() = alpha * a * b;
}

// One Eigen call on the calling thread.
template <typename T>
void gemm_block(int64_t m, int64_t n, int64_t k, T alpha, Operand<T> a, Operand<T> b, T* c, int64_t ldc,
                bool accumulate) {
  if (m == 0 || n == 0) return;
  View<T> cv(c, m, n, Eigen::OuterStride<>(ldc));
  if (k == 0) {
    if (!accumulate) cv.setZero();
    return;
  }
  ConstView<T> av = stored(a, m, k);
  ConstView<T> bv = stored(b, k, n);
  if (!a.trans && !b.trans) return product_into<T>(cv, av, bv, alpha, accumulate);
  if (!a.trans) return product_into<T>(cv, av, bv.transpose(), alpha, accumulate);
  if (!b.trans) return product_into<T>(cv, av.transpose(), bv, alpha, accumulate);
  product_into<T>(cv, av.transpose(), bv.transpose(), alpha, accumulate);
}

int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

// Tiles of C, from the problem shape alone: rows when C is tall, columns when it is wide.
struct Tiling {
  int64_t tile_m, tile_n;
  int64_t tiles_m, tiles_n;
  int64_t count() const { return tiles_m * tiles_n; }
};

Tiling plan_tiles(int64_t m, int64_t n, int64_t k) {
  Tiling t{std::max<int64_t>(m, 1), std::max<int64_t>(n, 1), 1, 1};
  double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(std::max<int64_t>(k, 1));
  if (work > kGemmTileWork) {
    if (m >= n) {
      auto rows = static_cast<int64_t>(kGemmTileWork / (static_cast<double>(n) * std::max<int64_t>(k, 1)));
      t.tile_m = std::min(m, std::max(kGemmMinTile, round_up(rows, kGemmTileAlign)));
    } else {
      auto cols = static_cast<int64_t>(kGemmTileWork / (static_cast<double>(m) * std::max<int64_t>(k, 1)));
      t.tile_n = std::min(n, std::max(kGemmMinTile, round_up(cols, kGemmTileAlign)));
    }
  }
  t.tiles_m = (m + t.tile_m - 1) / t.tile_m;
  t.tiles_n = (n + t.tile_n - 1) / t.tile_n;
  return t;
}

// `batches` independent products C_i = alpha * op(A_i) op(B_i) (+ C_i), with A_i, B_i, C_i at the
// given element offsets; each is split into tiles, and (batch, tile) pairs run on the pool.
// `col_bias` (n values, or none) is added to every row of every C_i last.
template <typename T>
void batched_gemm(ThreadPool& pool, int64_t m, int64_t n, int64_t k, T alpha, Operand<T> a,
                  const std::vector<int64_t>& a_offsets, Operand<T> b, const std::vector<int64_t>& b_offsets, T* c,
                  int64_t c_stride, int64_t ldc, bool accumulate, const T* col_bias = nullptr) {
  auto batches = static_cast<int64_t>(a_offsets.size());
  if (batches == 0 || m == 0 || n == 0) return;
  // One product with plain operands runs on sgemm. Batches of distinct products (attention's
  // activation x activation) keep Eigen's summation order for now: the dynamically quantized ViT's
  // one-sample agreement with ORT (executor_oracle_test) moves with the last bits of those.
  bool native = sgemm_is_native() && batches == 1 && !a.trans && !b.trans && alpha == T(1);
  Tiling t = plan_tiles(m, n, k);
  int64_t tasks = batches * t.count();
  double task_work = static_cast<double>(t.tile_m) * t.tile_n * std::max<int64_t>(k, 1);
  int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(kGemmTileWork / task_work));
  pool.parallel_for(tasks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      int64_t batch = task / t.count();
      int64_t tile = task % t.count();
      int64_t r0 = (tile / t.tiles_n) * t.tile_m;
      int64_t c0 = (tile % t.tiles_n) * t.tile_n;
      int64_t rows = std::min(t.tile_m, m - r0);
      int64_t cols = std::min(t.tile_n, n - c0);
      Operand<T> at = a;
      at.data += a_offsets[batch] + (a.trans ? r0 : r0 * a.ld);
      Operand<T> bt = b;
      bt.data += b_offsets[batch] + (b.trans ? c0 * b.ld : c0);
      T* ct = c + batch * c_stride + r0 * ldc + c0;
      const T* bias = col_bias ? col_bias + c0 : nullptr;
      if constexpr (std::is_same_v<T, float>) {
        if (native) {
          sgemm(rows, cols, k, at.data, at.ld, bt.data, bt.ld, ct, ldc, {nullptr, bias, accumulate, false});
          continue;
        }
      }
      gemm_block<T>(rows, cols, k, alpha, at, bt, ct, ldc, accumulate);
      if (bias)
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < cols; ++j) ct[r * ldc + j] += bias[j];
    }
  });
}

template <typename F>
void dispatch_gemm_types(const OpContext& ctx, DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32: f(float{}); return;
    case DType::f64: f(double{}); return;
    case DType::i32: f(int32_t{}); return;
    case DType::i64: f(int64_t{}); return;
    case DType::u32: f(uint32_t{}); return;
    case DType::u64: f(uint64_t{}); return;
    default: ctx.unsupported("data type " + std::string(dtype_name(dtype)) + " is not supported here");
  }
}

template <typename T>
void matmul_typed(OpContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  if (a.rank() == 0 || b.rank() == 0) ctx.fail("operands must have rank >= 1");
  Shape as = a.shape();
  Shape bs = b.shape();
  bool a_vector = as.size() == 1;
  bool b_vector = bs.size() == 1;
  if (a_vector) as.insert(as.begin(), 1);
  if (b_vector) bs.push_back(1);
  int64_t m = as[as.size() - 2];
  int64_t k = as.back();
  int64_t n = bs.back();
  if (bs[bs.size() - 2] != k)
    ctx.fail("inner dimensions differ: " + shape_string(a.shape()) + " x " + shape_string(b.shape()));
  Shape a_batch(as.begin(), as.end() - 2);
  Shape b_batch(bs.begin(), bs.end() - 2);
  Shape batch = broadcast_shapes(ctx, {&a_batch, &b_batch});
  Shape out_shape = batch;
  if (!a_vector) out_shape.push_back(m);
  if (!b_vector) out_shape.push_back(n);
  Tensor out(a.dtype(), out_shape);

  int64_t batches = checked_numel(batch, "matmul batch");
  int64_t b_batches = checked_numel(b_batch, "matmul batch");
  std::vector<int64_t> a_offsets, b_offsets;
  if (b_batches == 1) {
    // B is shared by every batch: the batches of A stack into one tall product.
    m *= batches;
    batches = 1;
    a_offsets = {0};
    b_offsets = {0};
  } else {
    a_offsets.resize(batches);
    b_offsets.resize(batches);
    std::array<std::vector<int64_t>, 2> strides = {broadcast_strides(a_batch, batch), broadcast_strides(b_batch, batch)};
    for_each_broadcast<2>(batch, strides, [&](int64_t i, const std::array<int64_t, 2>& o) {
      a_offsets[i] = o[0] * m * k;
      b_offsets[i] = o[1] * k * n;
    });
  }
  // A fused bias (see OpContext::fused_bias) is checked by the executor: float, n values.
  const T* col_bias = nullptr;
  if constexpr (std::is_same_v<T, float>)
    if (const Tensor* bias = ctx.fused_bias(); bias && bias->numel() == n) col_bias = bias->data<float>();
  if (ctx.fused_bias() && !col_bias) ctx.fail("fused bias does not match the product's columns");
  batched_gemm<T>(ctx.pool(), m, n, k, T(1), {a.data<T>(), k, false}, a_offsets, {b.data<T>(), n, false}, b_offsets,
                  out.data<T>(), m * n, n, false, col_bias);
  ctx.out(0) = std::move(out);
}

template <typename T>
void gemm_typed(OpContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  const Tensor* c = ctx.input(2);
  if (a.rank() != 2 || b.rank() != 2) ctx.fail("A and B must be matrices");
  bool trans_a = ctx.attr_int("transA", 0) != 0;
  bool trans_b = ctx.attr_int("transB", 0) != 0;
  T alpha = static_cast<T>(ctx.attr_float("alpha", 1.f));
  T beta = static_cast<T>(ctx.attr_float("beta", 1.f));
  int64_t m = a.shape()[trans_a ? 1 : 0];
  int64_t k = a.shape()[trans_a ? 0 : 1];
  int64_t n = b.shape()[trans_b ? 0 : 1];
  if (b.shape()[trans_b ? 1 : 0] != k)
    ctx.fail("inner dimensions differ: " + shape_string(a.shape()) + " x " + shape_string(b.shape()));
  Shape out_shape{m, n};
  Tensor out(a.dtype(), out_shape);
  bool with_c = c && beta != T(0);
  if (with_c) {
    if (c->dtype() != a.dtype()) ctx.fail("C has a different type than A");
    if (c->rank() > 2 || broadcast_shapes(ctx, {&c->shape(), &out_shape}) != out_shape)
      ctx.fail("C of shape " + shape_string(c->shape()) + " does not broadcast to " + shape_string(out_shape));
    T* po = out.data<T>();
    const T* pc = c->data<T>();
    std::array<std::vector<int64_t>, 1> strides = {broadcast_strides(c->shape(), out_shape)};
    for_each_broadcast<1>(out_shape, strides,
                          [&](int64_t i, const std::array<int64_t, 1>& o) { po[i] = beta * pc[o[0]]; });
  }
  batched_gemm<T>(ctx.pool(), m, n, k, alpha, {a.data<T>(), a.shape()[1], trans_a}, {0},
                  {b.data<T>(), b.shape()[1], trans_b}, {0}, out.data<T>(), m * n, n, with_c);
  ctx.out(0) = std::move(out);
}


// ---- Einsum ---------------------------------------------------------------------------------

// One operand's term: a label per dim; ellipsis dims get labels 256 + k, aligned to the right
// of the widest ellipsis.
struct EinsumTerm {
  std::vector<int> labels;
};

constexpr int kEllipsisLabel = 256;

std::vector<std::string> split_terms(const std::string& s) {
  std::vector<std::string> terms(1);
  for (char c : s) {
    if (c == ',') terms.emplace_back();
    else terms.back() += c;
  }
  return terms;
}

// Letters of a term, with "..." expanded to `ellipsis_rank` labels (negative rank: the term's
// own, derived from the operand's rank).
std::vector<int> parse_term(const OpContext& ctx, const std::string& term, int64_t rank, int64_t max_ellipsis,
                            int64_t* ellipsis_rank) {
  std::vector<int> letters;
  bool has_ellipsis = false;
  size_t ellipsis_at = 0;
  for (size_t i = 0; i < term.size(); ++i) {
    if (term.compare(i, 3, "...") == 0) {
      if (has_ellipsis) ctx.fail("equation term '" + term + "' has two ellipses");
      has_ellipsis = true;
      ellipsis_at = letters.size();
      i += 2;
      continue;
    }
    if (!std::isalpha(static_cast<unsigned char>(term[i]))) ctx.fail("bad character in equation term '" + term + "'");
    letters.push_back(static_cast<unsigned char>(term[i]));
  }
  int64_t e = has_ellipsis ? (rank >= 0 ? rank - static_cast<int64_t>(letters.size()) : max_ellipsis) : 0;
  if (e < 0 || (rank >= 0 && !has_ellipsis && static_cast<int64_t>(letters.size()) != rank))
    ctx.fail("equation term '" + term + "' does not match an operand of rank " + std::to_string(rank));
  if (ellipsis_rank) *ellipsis_rank = e;
  std::vector<int> labels(letters.begin(), letters.begin() + static_cast<std::ptrdiff_t>(ellipsis_at));
  for (int64_t k = 0; k < e; ++k) labels.push_back(kEllipsisLabel + static_cast<int>(max_ellipsis - e + k));
  labels.insert(labels.end(), letters.begin() + static_cast<std::ptrdiff_t>(ellipsis_at), letters.end());
  if (!has_ellipsis) labels = letters;
  return labels;
}

template <typename T>
void einsum_typed(OpContext& ctx) {
  std::string equation;
  for (char c : ctx.attr_string("equation", ""))
    if (c != ' ') equation += c;
  std::string inputs_part = equation, output_part;
  bool explicit_output = false;
  if (auto arrow = equation.find("->"); arrow != std::string::npos) {
    inputs_part = equation.substr(0, arrow);
    output_part = equation.substr(arrow + 2);
    explicit_output = true;
  }
  std::vector<std::string> terms = split_terms(inputs_part);
  if (terms.size() != ctx.num_inputs()) ctx.fail("equation has " + std::to_string(terms.size()) + " operands, the node " + std::to_string(ctx.num_inputs()));
  size_t n = terms.size();
  std::vector<const Tensor*> x(n);
  int64_t max_ellipsis = 0;
  std::vector<int64_t> ellipsis_ranks(n);
  for (size_t i = 0; i < n; ++i) {
    x[i] = &ctx.in(i);
    if (x[i]->dtype() != ctx.in(0).dtype()) ctx.fail("operands have different types");
    parse_term(ctx, terms[i], x[i]->rank(), 0, &ellipsis_ranks[i]);
    max_ellipsis = std::max(max_ellipsis, ellipsis_ranks[i]);
  }
  // Label sizes; ellipsis dims broadcast (size 1 stretches), letters must agree.
  std::map<int, int64_t> size;
  std::map<int, int> count;
  std::vector<std::vector<int>> labels(n);
  for (size_t i = 0; i < n; ++i) {
    labels[i] = parse_term(ctx, terms[i], x[i]->rank(), max_ellipsis, nullptr);
    for (size_t d = 0; d < labels[i].size(); ++d) {
      int l = labels[i][d];
      int64_t extent = x[i]->shape()[d];
      ++count[l];
      auto [it, fresh] = size.emplace(l, extent);
      if (fresh || it->second == extent) continue;
      if (l >= kEllipsisLabel && (extent == 1 || it->second == 1)) {
        it->second = std::max(it->second, extent);
        continue;
      }
      ctx.fail("dimension sizes of label '" + std::string(1, static_cast<char>(l < kEllipsisLabel ? l : '.')) + "' differ");
    }
  }
  std::vector<int> out_labels;
  if (explicit_output) {
    out_labels = parse_term(ctx, output_part, -1, max_ellipsis, nullptr);
    for (int l : out_labels)
      if (!size.count(l)) ctx.fail("output label not found in the inputs");
  } else {
    for (int64_t k = 0; k < max_ellipsis; ++k) out_labels.push_back(kEllipsisLabel + static_cast<int>(k));
    for (auto [l, c] : count)
      if (l < kEllipsisLabel && c == 1) out_labels.push_back(l);
  }
  std::vector<int> summed;
  for (auto [l, extent] : size)
    if (std::find(out_labels.begin(), out_labels.end(), l) == out_labels.end()) summed.push_back(l);

  // Strides of every label in every operand (repeated labels add up: a diagonal).
  auto strides_of = [&](const std::vector<int>& order) {
    std::vector<std::vector<int64_t>> st(n, std::vector<int64_t>(order.size(), 0));
    for (size_t i = 0; i < n; ++i) {
      int64_t stride = 1;
      for (size_t d = labels[i].size(); d-- > 0;) {
        int64_t extent = x[i]->shape()[d];
        auto pos = std::find(order.begin(), order.end(), labels[i][d]) - order.begin();
        if (pos < static_cast<std::ptrdiff_t>(order.size()) && extent != 1) st[i][pos] += stride;
        stride *= extent;
      }
    }
    return st;
  };
  std::vector<std::vector<int64_t>> out_strides = strides_of(out_labels);
  std::vector<std::vector<int64_t>> sum_strides = strides_of(summed);
  Shape out_shape;
  for (int l : out_labels) out_shape.push_back(size[l]);
  std::vector<int64_t> sum_sizes;
  int64_t sum_count = 1;
  for (int l : summed) sum_sizes.push_back(size[l]), sum_count *= size[l];
  Tensor out(x[0]->dtype(), out_shape);
  T* py = out.data<T>();
  int64_t grain = std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(sum_count * static_cast<int64_t>(n), 1));
  ctx.pool().parallel_for(out.numel(), grain, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> base(n), off(n), counter(summed.size());
    for (int64_t o = begin; o < end; ++o) {
      std::fill(base.begin(), base.end(), 0);
      int64_t rem = o;
      for (size_t d = out_labels.size(); d-- > 0;) {
        int64_t idx = rem % out_shape[d];
        rem /= out_shape[d];
        for (size_t i = 0; i < n; ++i) base[i] += idx * out_strides[i][d];
      }
      // Sum over the contracted labels in row-major order (one fixed order per element).
      T acc = T(0);
      std::fill(counter.begin(), counter.end(), 0);
      off = base;
      for (int64_t s = 0; s < sum_count; ++s) {
        T prod = T(1);
        for (size_t i = 0; i < n; ++i) prod *= x[i]->data<T>()[off[i]];
        acc += prod;
        for (size_t d = summed.size(); d-- > 0;) {
          for (size_t i = 0; i < n; ++i) off[i] += sum_strides[i][d];
          if (++counter[d] < sum_sizes[d]) break;
          for (size_t i = 0; i < n; ++i) off[i] -= sum_strides[i][d] * sum_sizes[d];
          counter[d] = 0;
        }
      }
      py[o] = acc;
    }
  });
  ctx.out(0) = std::move(out);
}

}  // namespace

void gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, GemmOperand a, GemmOperand b, float* c, int64_t ldc,
              bool accumulate) {
  gemm_block<float>(m, n, k, alpha, {a.data, a.ld, a.trans}, {b.data, b.ld, b.trans}, c, ldc, accumulate);
}

void gemm_f32_parallel(ThreadPool& pool, int64_t m, int64_t n, int64_t k, float alpha, GemmOperand a,
                       GemmOperand b, float* c, int64_t ldc, bool accumulate) {
  batched_gemm<float>(pool, m, n, k, alpha, {a.data, a.ld, a.trans}, {0}, {b.data, b.ld, b.trans}, {0}, c, 0, ldc,
                      accumulate);
}

void matmul(OpContext& ctx) {
  if (ctx.in(0).dtype() != ctx.in(1).dtype()) ctx.fail("operands have different types");
  dispatch_gemm_types(ctx, ctx.in(0).dtype(), [&](auto tag) { matmul_typed<decltype(tag)>(ctx); });
}

void gemm(OpContext& ctx) {
  if (ctx.in(0).dtype() != ctx.in(1).dtype()) ctx.fail("A and B have different types");
  dispatch_gemm_types(ctx, ctx.in(0).dtype(), [&](auto tag) { gemm_typed<decltype(tag)>(ctx); });
}

// Direct evaluation: every output element sums the products over the contracted labels. Fine
// for the small contractions models use it for; large ones would want a MatMul lowering.
void einsum(OpContext& ctx) {
  if (ctx.num_inputs() == 0) ctx.fail("needs at least one operand");
  dispatch_gemm_types(ctx, ctx.in(0).dtype(), [&](auto tag) { einsum_typed<decltype(tag)>(ctx); });
}

}  // namespace mcompress::exec
