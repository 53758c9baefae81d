// Reduce* (axes as attribute, or as input from opset 13 for ReduceSum and 18 for the others;
// keepdims; noop_with_empty_axes) and ArgMax / ArgMin. Every output element is accumulated by
// one task, in increasing input order; floats accumulate in double.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "nn_kernels.h"

namespace mcompress::exec {
namespace {

constexpr double kReduceGrainWork = 1 << 15;  // input elements per parallel chunk

enum class Reduce { max, min, mean, sum, prod, l1, l2, log_sum, log_sum_exp, sum_square };

// The input viewed as alternating runs of kept and reduced dims (size-1 dims dropped). Outputs
// are visited as rows of `inner` elements: when the last run is kept, a row is that run and the
// reduction adds whole rows; otherwise inner is 1 and the last (reduced, contiguous) run is the
// innermost loop of every output.
struct ReducePlan {
  Shape out_shape;
  int64_t outputs = 1;
  int64_t count = 1;                     // input elements per output
  bool inner_kept = false;
  int64_t inner = 1;                     // kept row length (inner_kept) or contiguous reduced run
  std::vector<int64_t> reduced_offsets;  // offsets of the other reduced positions, in order
  std::vector<int64_t> kept_sizes, kept_strides;  // kept runs that index the rows

  int64_t row_base(int64_t row) const {
    int64_t base = 0;
    for (size_t g = kept_sizes.size(); g-- > 0;) {
      base += (row % kept_sizes[g]) * kept_strides[g];
      row /= kept_sizes[g];
    }
    return base;
  }
};

ReducePlan plan_reduce(const Shape& shape, const std::vector<bool>& reduced, bool keepdims) {
  ReducePlan p;
  struct Run {
    int64_t size, stride;
    bool reduced;
  };
  std::vector<Run> runs;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (reduced[d]) {
      p.count *= shape[d];
      if (keepdims) p.out_shape.push_back(1);
    } else {
      p.out_shape.push_back(shape[d]);
      p.outputs *= shape[d];
    }
    if (shape[d] == 1) continue;
    if (!runs.empty() && runs.back().reduced == reduced[d]) runs.back().size *= shape[d];
    else runs.push_back({shape[d], 0, reduced[d]});
  }
  int64_t stride = 1;
  for (size_t g = runs.size(); g-- > 0;) {
    runs[g].stride = stride;
    stride *= runs[g].size;
  }
  p.inner_kept = !runs.empty() && !runs.back().reduced;
  size_t last = runs.size();
  if (!runs.empty()) {
    p.inner = runs.back().size;
    --last;  // the innermost run is handled by the inner loop
  }
  std::vector<Run> outer_reduced;
  for (size_t g = 0; g < runs.size(); ++g) {
    if (g == last) continue;
    if (runs[g].reduced) outer_reduced.push_back(runs[g]);
    else p.kept_sizes.push_back(runs[g].size), p.kept_strides.push_back(runs[g].stride);
  }
  // Offsets of the reduced positions other than the inner run, in row-major order.
  int64_t combos = 1;
  for (const Run& r : outer_reduced) combos *= r.size;
  p.reduced_offsets.reserve(static_cast<size_t>(combos));
  std::vector<int64_t> counter(outer_reduced.size(), 0);
  for (int64_t i = 0; i < combos; ++i) {
    int64_t off = 0;
    for (size_t g = 0; g < outer_reduced.size(); ++g) off += counter[g] * outer_reduced[g].stride;
    p.reduced_offsets.push_back(off);
    for (size_t g = outer_reduced.size(); g-- > 0;) {
      if (++counter[g] < outer_reduced[g].size) break;
      counter[g] = 0;
    }
  }
  return p;
}

// step(acc, value, output_index) folds one input element in; finish(acc, output_index) → T.
template <typename T, typename Acc, typename Step, typename Finish>
void run_reduce(ThreadPool& pool, const ReducePlan& p, const T* x, T* y, Acc init, Step step, Finish finish) {
  if (p.outputs == 0) return;
  int64_t rows = p.inner_kept ? p.outputs / p.inner : p.outputs;
  int64_t row_work = std::max<int64_t>(1, p.count * (p.inner_kept ? p.inner : 1));
  int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(kReduceGrainWork / static_cast<double>(row_work)));
  pool.parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
    std::vector<Acc> acc;
    for (int64_t row = begin; row < end; ++row) {
      int64_t base = p.row_base(row);
      if (p.inner_kept) {
        acc.assign(static_cast<size_t>(p.inner), init);
        int64_t o0 = row * p.inner;
        for (int64_t off : p.reduced_offsets) {
          const T* xr = x + base + off;
          for (int64_t i = 0; i < p.inner; ++i) step(acc[i], xr[i], o0 + i);
        }
        for (int64_t i = 0; i < p.inner; ++i) y[o0 + i] = finish(acc[i], o0 + i);
        continue;
      }
      Acc a = init;
      for (int64_t off : p.reduced_offsets) {
        const T* xr = x + base + off;
        for (int64_t i = 0; i < p.inner; ++i) step(a, xr[i], row);
      }
      y[row] = finish(a, row);
    }
  });
}

template <typename T>
using SumAcc = std::conditional_t<std::is_floating_point_v<T>, double,
                                  std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

template <typename T>
T lowest_value() {
  if constexpr (std::is_floating_point_v<T>) return -std::numeric_limits<T>::infinity();
  return std::numeric_limits<T>::lowest();
}
template <typename T>
T highest_value() {
  if constexpr (std::is_floating_point_v<T>) return std::numeric_limits<T>::infinity();
  return std::numeric_limits<T>::max();
}

template <typename T>
T from_double(double v) {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(v);
  } else {
    // Integer results of L2 / LogSum(Exp): truncate like a cast, saturating out-of-range values.
    if (std::isnan(v)) return T(0);
    if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  }
}

template <Reduce K, typename T>
void reduce_typed(OpContext& ctx, const Tensor& x, const ReducePlan& p, Tensor& out) {
  const T* px = x.data<T>();
  T* py = out.data<T>();
  ThreadPool& pool = ctx.pool();
  using S = SumAcc<T>;
  auto count = static_cast<double>(p.count);
  if constexpr (K == Reduce::max) {
    run_reduce<T, T>(pool, p, px, py, lowest_value<T>(), [](T& a, T v, int64_t) { a = v > a || v != v ? v : a; },
                     [](T a, int64_t) { return a; });
  } else if constexpr (K == Reduce::min) {
    run_reduce<T, T>(pool, p, px, py, highest_value<T>(), [](T& a, T v, int64_t) { a = v < a || v != v ? v : a; },
                     [](T a, int64_t) { return a; });
  } else if constexpr (K == Reduce::sum) {
    run_reduce<T, S>(pool, p, px, py, S(0), [](S& a, T v, int64_t) { a += v; },
                     [](S a, int64_t) { return static_cast<T>(a); });
  } else if constexpr (K == Reduce::mean) {
    run_reduce<T, S>(pool, p, px, py, S(0), [](S& a, T v, int64_t) { a += v; }, [&](S a, int64_t) {
      // The mean of nothing is 0, as in ORT.
      if (p.count == 0) return T(0);
      if constexpr (std::is_floating_point_v<T>) return static_cast<T>(a / count);
      return static_cast<T>(a / static_cast<S>(p.count));
    });
  } else if constexpr (K == Reduce::prod) {
    run_reduce<T, S>(pool, p, px, py, S(1), [](S& a, T v, int64_t) { a *= v; },
                     [](S a, int64_t) { return static_cast<T>(a); });
  } else if constexpr (K == Reduce::l1) {
    run_reduce<T, S>(
        pool, p, px, py, S(0),
        [](S& a, T v, int64_t) {
          if constexpr (std::is_signed_v<T>) a += v < T(0) ? S(0) - S(v) : S(v);
          else a += S(v);
        },
        [](S a, int64_t) { return static_cast<T>(a); });
  } else if constexpr (K == Reduce::sum_square) {
    run_reduce<T, S>(pool, p, px, py, S(0), [](S& a, T v, int64_t) { a += S(v) * S(v); },
                     [](S a, int64_t) { return static_cast<T>(a); });
  } else if constexpr (K == Reduce::l2) {
    run_reduce<T, double>(pool, p, px, py, 0.0, [](double& a, T v, int64_t) { a += double(v) * double(v); },
                          [](double a, int64_t) { return from_double<T>(std::sqrt(a)); });
  } else if constexpr (K == Reduce::log_sum) {
    run_reduce<T, double>(pool, p, px, py, 0.0, [](double& a, T v, int64_t) { a += double(v); },
                          [](double a, int64_t) { return from_double<T>(std::log(a)); });
  } else if constexpr (K == Reduce::log_sum_exp) {
    // Shift by each output's maximum so large inputs do not overflow.
    Tensor max(x.dtype(), out.shape());
    T* pm = max.data<T>();
    run_reduce<T, T>(pool, p, px, pm, lowest_value<T>(), [](T& a, T v, int64_t) { a = v > a || v != v ? v : a; },
                     [](T a, int64_t) { return a; });
    run_reduce<T, double>(
        pool, p, px, py, 0.0,
        [pm](double& a, T v, int64_t o) {
          double m = static_cast<double>(pm[o]);
          a += std::isinf(m) ? std::exp(double(v)) : std::exp(double(v) - m);
        },
        [pm](double a, int64_t o) {
          double m = static_cast<double>(pm[o]);
          return from_double<T>(std::isinf(m) ? std::log(a) : m + std::log(a));
        });
  }
}

template <Reduce K>
void reduce_op(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  bool axes_as_input = ctx.opset() >= (K == Reduce::sum ? 13 : 18);
  std::vector<int64_t> axes;
  if (axes_as_input) {
    if (const Tensor* t = ctx.input(1)) axes = to_int64s(ctx, *t);
  } else {
    axes = ctx.attr_ints("axes");
  }
  bool keepdims = ctx.attr_int("keepdims", 1) != 0;
  // Empty axes reduce everything, or nothing with noop_with_empty_axes: then each output is its
  // own input element passed through the op's element-wise part (|x| for L1, x^2 for
  // SumSquare, ...), as ONNX's reference and ORT compute it.
  bool reduce_all = axes.empty() && ctx.attr_int("noop_with_empty_axes", 0) == 0;
  int64_t rank = x.rank();
  std::vector<bool> reduced(static_cast<size_t>(rank), reduce_all);
  for (int64_t a : axes) {
    int64_t axis = normalize_axis(ctx, a, std::max<int64_t>(rank, 1));
    if (rank == 0) continue;
    if (reduced[axis]) ctx.fail("axis " + std::to_string(a) + " is listed twice");
    reduced[axis] = true;
  }
  ReducePlan plan = plan_reduce(x.shape(), reduced, keepdims);
  Tensor out(x.dtype(), plan.out_shape);
  dispatch_numeric(ctx, x.dtype(), [&](auto tag) { reduce_typed<K, decltype(tag)>(ctx, x, plan, out); });
  ctx.out(0) = std::move(out);
}

// ---- ArgMax / ArgMin ---------------------------------------------------------------------

template <bool Max, typename T>
void arg_typed(OpContext& ctx, const Tensor& x) {
  int64_t rank = std::max<int64_t>(x.rank(), 1);
  int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), rank);
  bool keepdims = ctx.attr_int("keepdims", 1) != 0;
  bool last = ctx.attr_int("select_last_index", 0) != 0;
  const Shape& s = x.shape();
  Shape out_shape;
  int64_t outer = 1, inner = 1;
  int64_t len = x.rank() == 0 ? 1 : s[axis];
  for (int64_t d = 0; d < x.rank(); ++d) {
    if (d < axis) outer *= s[d];
    if (d > axis) inner *= s[d];
    if (d != axis) out_shape.push_back(s[d]);
    else if (keepdims) out_shape.push_back(1);
  }
  if (len == 0 && outer * inner > 0) ctx.fail("cannot take the arg of an empty axis");
  Tensor out(DType::i64, out_shape);
  const T* px = x.data<T>();
  int64_t* py = out.data<int64_t>();
  int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(kReduceGrainWork / std::max<double>(len, 1)));
  ctx.pool().parallel_for(outer * inner, grain, [&](int64_t begin, int64_t end) {
    for (int64_t l = begin; l < end; ++l) {
      const T* xl = px + (l / inner) * len * inner + (l % inner);
      T best = xl[0];
      int64_t arg = 0;
      for (int64_t i = 1; i < len; ++i) {
        T v = xl[i * inner];
        bool better = Max ? (v > best || (last && v == best)) : (v < best || (last && v == best));
        if (better) best = v, arg = i;
      }
      py[l] = arg;
    }
  });
  ctx.out(0) = std::move(out);
}

template <bool Max>
void arg_op(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  dispatch_numeric(ctx, x.dtype(), [&](auto tag) { arg_typed<Max, decltype(tag)>(ctx, x); });
}

}  // namespace

void reduce_max(OpContext& ctx) { reduce_op<Reduce::max>(ctx); }
void reduce_min(OpContext& ctx) { reduce_op<Reduce::min>(ctx); }
void reduce_mean(OpContext& ctx) { reduce_op<Reduce::mean>(ctx); }
void reduce_sum(OpContext& ctx) { reduce_op<Reduce::sum>(ctx); }
void reduce_prod(OpContext& ctx) { reduce_op<Reduce::prod>(ctx); }
void reduce_l1(OpContext& ctx) { reduce_op<Reduce::l1>(ctx); }
void reduce_l2(OpContext& ctx) { reduce_op<Reduce::l2>(ctx); }
void reduce_log_sum(OpContext& ctx) { reduce_op<Reduce::log_sum>(ctx); }
void reduce_log_sum_exp(OpContext& ctx) { reduce_op<Reduce::log_sum_exp>(ctx); }
void reduce_sum_square(OpContext& ctx) { reduce_op<Reduce::sum_square>(ctx); }
void arg_max(OpContext& ctx) { arg_op<true>(ctx); }
void arg_min(OpContext& ctx) { arg_op<false>(ctx); }

}  // namespace mcompress::exec
