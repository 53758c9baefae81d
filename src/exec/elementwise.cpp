// Element-wise ops: arithmetic with broadcasting, unary math and activations, comparisons and
// logic, Cast, Where, Clip, variadic Max/Min/Mean/Sum.
#include <unsupported/Eigen/SpecialFunctions>

#include <algorithm>
#include <cmath>

#include "kernels.h"

namespace mcompress::exec {
namespace {

// ---- binary ops with numpy broadcasting --------------------------------------------------

// Whether `inner` is `out` without some leading dims (leading 1s of `inner` ignored): then
// `inner` repeats along the rows of `out`, as a bias vector does.
bool is_trailing_block(const Shape& inner, const Shape& out) {
  size_t first = 0;
  while (first < inner.size() && inner[first] == 1) ++first;
  size_t n = inner.size() - first;
  return n <= out.size() && std::equal(inner.begin() + first, inner.end(), out.end() - n);
}

template <typename T, typename R, typename F>
void binary_typed(OpContext& ctx, DType out_dtype, F f) {
  Shape as = ctx.in(0).shape();
  Shape bs = ctx.in(1).shape();
  Shape out_shape = broadcast_shapes(ctx, {&as, &bs});
  const T* pa = ctx.in(0).data<T>();
  const T* pb = ctx.in(1).data<T>();
  // In place when an input of the output's shape and type dies here: no fresh (zero-filled)
  // storage, and the memory is still in cache. Element i is read before it is written.
  bool same_type = out_dtype == ctx.in(0).dtype();
  Tensor out;
  if (same_type && as == out_shape && ctx.can_take_input(0)) {
    out = ctx.take_input(0);
    pa = out.data<T>();
  } else if (same_type && bs == out_shape && ctx.can_take_input(1)) {
    out = ctx.take_input(1);
    pb = out.data<T>();
  } else {
    out = Tensor(out_dtype, out_shape);
  }
  R* po = out.data<R>();
  int64_t total = out.numel();
  int64_t b_numel = checked_numel(bs, "operand");
  if (as == bs) {
    ctx.pool().parallel_for(total, kElementGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) po[i] = f(pa[i], pb[i]);
    });
  } else if (b_numel == 1) {
    T s = pb[0];
    ctx.pool().parallel_for(total, kElementGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) po[i] = f(pa[i], s);
    });
  } else if (total > 0 && (as == out_shape ? is_trailing_block(bs, out_shape)
                                           : bs == out_shape && is_trailing_block(as, out_shape))) {
    // One operand spans the output; the other is its trailing block of `inner` elements, repeated.
    bool b_repeats = as == out_shape;
    int64_t inner = b_repeats ? b_numel : checked_numel(as, "operand");
    int64_t grain = std::max<int64_t>(1, kElementGrain / inner);
    ctx.pool().parallel_for(total / inner, grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* ra = b_repeats ? pa + r * inner : pa;
        const T* rb = b_repeats ? pb : pb + r * inner;
        for (int64_t i = 0; i < inner; ++i) po[r * inner + i] = f(ra[i], rb[i]);
      }
    });
  } else {
    std::array<std::vector<int64_t>, 2> strides = {broadcast_strides(as, out_shape), broadcast_strides(bs, out_shape)};
    for_each_broadcast<2>(out_shape, strides,
                          [&](int64_t i, const std::array<int64_t, 2>& o) { po[i] = f(pa[o[0]], pb[o[1]]); });
  }
  ctx.out(0) = std::move(out);
}

void check_same_dtype(const OpContext& ctx) {
  if (ctx.in(0).dtype() != ctx.in(1).dtype())
    ctx.fail("inputs have different types, " + std::string(dtype_name(ctx.in(0).dtype())) + " and " +
             std::string(dtype_name(ctx.in(1).dtype())));
}

template <typename Op>
void arithmetic(OpContext& ctx) {
  check_same_dtype(ctx);
  DType d = ctx.in(0).dtype();
  dispatch_numeric(ctx, d, [&](auto tag) {
    using T = decltype(tag);
    binary_typed<T, T>(ctx, d, [](T x, T y) { return static_cast<T>(Op::apply(x, y)); });
  });
}

struct AddOp { template <typename T> static T apply(T a, T b) { return a + b; } };
struct SubOp { template <typename T> static T apply(T a, T b) { return a - b; } };
struct MulOp { template <typename T> static T apply(T a, T b) { return a * b; } };
struct DivOp {
  template <typename T>
  static T apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) return b == 0 ? T(0) : static_cast<T>(a / b);
    else return a / b;
  }
};

void add(OpContext& ctx) { arithmetic<AddOp>(ctx); }
void sub(OpContext& ctx) { arithmetic<SubOp>(ctx); }
void mul(OpContext& ctx) { arithmetic<MulOp>(ctx); }
void div(OpContext& ctx) { arithmetic<DivOp>(ctx); }

void pow_op(OpContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  if (a.dtype() == DType::f32 && b.dtype() == DType::f32) {
    binary_typed<float, float>(ctx, DType::f32, [](float x, float y) {
      if (y == 2.f) return x * x;
      return std::pow(x, y);
    });
    return;
  }
  // Mixed types: compute in double, write the base's type.
  Tensor bf(DType::f64, b.shape());
  for (int64_t i = 0; i < b.numel(); ++i) bf.data<double>()[i] = element_as_double(b, i);
  dispatch_numeric(ctx, a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    Tensor af(DType::f64, a.shape());
    for (int64_t i = 0; i < a.numel(); ++i) af.data<double>()[i] = static_cast<double>(a.data<T>()[i]);
    Shape out_shape = broadcast_shapes(ctx, {&a.shape(), &b.shape()});
    Tensor out(a.dtype(), out_shape);
    std::array<std::vector<int64_t>, 2> strides = {broadcast_strides(a.shape(), out_shape),
                                                   broadcast_strides(b.shape(), out_shape)};
    for_each_broadcast<2>(out_shape, strides, [&](int64_t i, const std::array<int64_t, 2>& o) {
      out.data<T>()[i] = static_cast<T>(std::pow(af.data<double>()[o[0]], bf.data<double>()[o[1]]));
    });
    ctx.out(0) = std::move(out);
  });
}

void mod_op(OpContext& ctx) {
  check_same_dtype(ctx);
  bool fmod = ctx.attr_int("fmod", 0) != 0;
  dispatch_numeric(ctx, ctx.in(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    binary_typed<T, T>(ctx, ctx.in(0).dtype(), [fmod](T a, T b) -> T {
      if constexpr (std::is_floating_point_v<T>) {
        T r = std::fmod(a, b);
        if (!fmod && r != 0 && ((r < 0) != (b < 0))) r += b;
        return r;
      } else {
        if (b == 0) return 0;
        T r = static_cast<T>(a % b);
        if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
        return r;
      }
    });
  });
}

template <typename Cmp>
void compare(OpContext& ctx) {
  check_same_dtype(ctx);
  DType d = ctx.in(0).dtype();
  if (d == DType::boolean) {
    binary_typed<uint8_t, uint8_t>(ctx, DType::boolean, [](uint8_t a, uint8_t b) { return uint8_t(Cmp::apply(a, b)); });
    return;
  }
  dispatch_numeric(ctx, d, [&](auto tag) {
    using T = decltype(tag);
    binary_typed<T, uint8_t>(ctx, DType::boolean, [](T a, T b) { return uint8_t(Cmp::apply(a, b)); });
  });
}

struct Eq { template <typename T> static bool apply(T a, T b) { return a == b; } };
struct Lt { template <typename T> static bool apply(T a, T b) { return a < b; } };
struct Le { template <typename T> static bool apply(T a, T b) { return a <= b; } };
struct Gt { template <typename T> static bool apply(T a, T b) { return a > b; } };
struct Ge { template <typename T> static bool apply(T a, T b) { return a >= b; } };

void equal(OpContext& ctx) { compare<Eq>(ctx); }
void less(OpContext& ctx) { compare<Lt>(ctx); }
void less_or_equal(OpContext& ctx) { compare<Le>(ctx); }
void greater(OpContext& ctx) { compare<Gt>(ctx); }
void greater_or_equal(OpContext& ctx) { compare<Ge>(ctx); }

template <typename F>
void logical(OpContext& ctx, F f) {
  if (ctx.in(0).dtype() != DType::boolean || ctx.in(1).dtype() != DType::boolean) ctx.fail("expects bool inputs");
  binary_typed<uint8_t, uint8_t>(ctx, DType::boolean, [f](uint8_t a, uint8_t b) { return uint8_t(f(a != 0, b != 0)); });
}

void and_op(OpContext& ctx) { logical(ctx, [](bool a, bool b) { return a && b; }); }
void or_op(OpContext& ctx) { logical(ctx, [](bool a, bool b) { return a || b; }); }
void xor_op(OpContext& ctx) { logical(ctx, [](bool a, bool b) { return a != b; }); }

// ---- unary ---------------------------------------------------------------------------------

template <typename F>
void unary_float(OpContext& ctx, F f) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() == DType::f32) {
    Tensor out = ctx.take_input(0);  // in place: the input's storage when nothing else reads it
    const float* px = out.data<float>();
    float* po = out.data<float>();
    ctx.pool().parallel_for(out.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) po[i] = f(px[i]);
    });
    ctx.out(0) = std::move(out);
    return;
  }
  if (x.dtype() == DType::f64) {
    Tensor out(DType::f64, x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) out.data<double>()[i] = f(x.data<double>()[i]);
    ctx.out(0) = std::move(out);
    return;
  }
  ctx.unsupported("data type " + std::string(dtype_name(x.dtype())) + " is not supported here");
}

// Unary ops that are also defined on integers (Abs, Neg, Sign, Relu...).
template <typename F>
void unary_numeric(OpContext& ctx, F f) {
  DType dtype = ctx.in(0).dtype();
  dispatch_numeric(ctx, dtype, [&](auto tag) {
    using T = decltype(tag);
    Tensor out = ctx.take_input(0);  // in place when nothing else reads the input
    const T* px = out.data<T>();
    T* po = out.data<T>();
    ctx.pool().parallel_for(out.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) po[i] = static_cast<T>(f(px[i]));
    });
    ctx.out(0) = std::move(out);
  });
}

// float32 through Eigen's vectorized array functions (erf, exp, tanh, logistic); other types
// through the scalar `fallback`.
template <typename ArrayFn, typename ScalarFn>
void unary_vectorized(OpContext& ctx, ArrayFn f, ScalarFn fallback) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() != DType::f32) {
    unary_float(ctx, fallback);
    return;
  }
  Tensor out = ctx.take_input(0);  // in place when nothing else reads the input
  const float* px = out.data<float>();
  float* po = out.data<float>();
  ctx.pool().parallel_for(out.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
    Eigen::Map<const Eigen::ArrayXf> in(px + begin, end - begin);
    Eigen::Map<Eigen::ArrayXf> result(po + begin, end - begin);
    result = f(in);
  });
  ctx.out(0) = std::move(out);
}

void relu(OpContext& ctx) { unary_numeric(ctx, [](auto v) { return v > 0 ? v : decltype(v)(0); }); }
void abs_op(OpContext& ctx) {
  unary_numeric(ctx, [](auto v) {
    if constexpr (std::is_unsigned_v<decltype(v)>) return v;
    else return v < 0 ? -v : v;
  });
}
void neg(OpContext& ctx) { unary_numeric(ctx, [](auto v) { return -v; }); }
void sign(OpContext& ctx) { unary_numeric(ctx, [](auto v) { return v > 0 ? 1 : (v < 0 ? -1 : 0); }); }
void identity(OpContext& ctx) { ctx.out(0) = ctx.take_input(0); }

void exp_op(OpContext& ctx) {
  unary_vectorized(ctx, [](const auto& a) { return a.exp(); }, [](auto v) { return std::exp(v); });
}
void log_op(OpContext& ctx) { unary_float(ctx, [](auto v) { return std::log(v); }); }
void sqrt_op(OpContext& ctx) { unary_float(ctx, [](auto v) { return std::sqrt(v); }); }
void reciprocal(OpContext& ctx) { unary_float(ctx, [](auto v) { return decltype(v)(1) / v; }); }
void floor_op(OpContext& ctx) { unary_float(ctx, [](auto v) { return std::floor(v); }); }
void ceil_op(OpContext& ctx) { unary_float(ctx, [](auto v) { return std::ceil(v); }); }
void round_op(OpContext& ctx) { unary_float(ctx, [](auto v) { return std::nearbyint(v); }); }
void sin_op(OpContext& ctx) { unary_float(ctx, [](auto v) { return std::sin(v); }); }
void cos_op(OpContext& ctx) { unary_float(ctx, [](auto v) { return std::cos(v); }); }
void tan_op(OpContext& ctx) { unary_float(ctx, [](auto v) { return std::tan(v); }); }
void tanh_op(OpContext& ctx) {
  unary_vectorized(ctx, [](const auto& a) { return a.tanh(); }, [](auto v) { return std::tanh(v); });
}
void erf_op(OpContext& ctx) {
  unary_vectorized(ctx, [](const auto& a) { return a.erf(); }, [](auto v) { return std::erf(v); });
}
void sigmoid(OpContext& ctx) {
  unary_float(ctx, [](auto v) {
    using T = decltype(v);
    return v >= 0 ? T(1) / (T(1) + std::exp(-v)) : std::exp(v) / (T(1) + std::exp(v));
  });
}
void softplus(OpContext& ctx) {
  unary_float(ctx, [](auto v) { return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); });
}
void softsign(OpContext& ctx) { unary_float(ctx, [](auto v) { return v / (1 + std::abs(v)); }); }

void leaky_relu(OpContext& ctx) {
  float alpha = ctx.attr_float("alpha", 0.01f);
  unary_float(ctx, [alpha](auto v) { return v >= 0 ? v : v * alpha; });
}
void elu(OpContext& ctx) {
  float alpha = ctx.attr_float("alpha", 1.f);
  unary_float(ctx, [alpha](auto v) { return v >= 0 ? v : alpha * (std::exp(v) - 1); });
}
void selu(OpContext& ctx) {
  float alpha = ctx.attr_float("alpha", 1.67326319217681884765625f);
  float gamma = ctx.attr_float("gamma", 1.05070102214813232421875f);
  unary_float(ctx, [=](auto v) { return gamma * (v > 0 ? v : alpha * (std::exp(v) - 1)); });
}
void shrink(OpContext& ctx) {
  float bias = ctx.attr_float("bias", 0.f), lambd = ctx.attr_float("lambd", 0.5f);
  unary_float(ctx, [=](auto v) {
    using T = decltype(v);
    return v < -lambd ? v + T(bias) : v > lambd ? v - T(bias) : T(0);
  });
}
void hard_sigmoid(OpContext& ctx) {
  float alpha = ctx.attr_float("alpha", 0.2f), beta = ctx.attr_float("beta", 0.5f);
  unary_float(ctx, [=](auto v) { return std::max<decltype(v)>(0, std::min<decltype(v)>(1, alpha * v + beta)); });
}
void hard_swish(OpContext& ctx) {
  unary_float(ctx, [](auto v) {
    using T = decltype(v);
    return v * std::max<T>(0, std::min<T>(1, v / T(6) + T(0.5)));
  });
}
void gelu(OpContext& ctx) {
  bool tanh_approx = ctx.attr_string("approximate", "none") == "tanh";
  unary_float(ctx, [tanh_approx](auto v) {
    using T = decltype(v);
    if (tanh_approx) return T(0.5) * v * (T(1) + std::tanh(T(0.7978845608028654) * (v + T(0.044715) * v * v * v)));
    return T(0.5) * v * (T(1) + std::erf(v * T(0.7071067811865476)));
  });
}

void not_op(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() != DType::boolean) ctx.fail("expects a bool input");
  Tensor out(DType::boolean, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) out.data<uint8_t>()[i] = x.data<uint8_t>()[i] ? 0 : 1;
  ctx.out(0) = std::move(out);
}

void is_nan(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor out(DType::boolean, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) out.data<uint8_t>()[i] = std::isnan(element_as_double(x, i)) ? 1 : 0;
  ctx.out(0) = std::move(out);
}

void prelu(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& slope = ctx.in(1);
  if (x.dtype() != DType::f32) ctx.unsupported("PRelu supports float32");
  // Opsets 1 and 6 (before numpy broadcasting): a 1-D slope of C values is per channel (axis 1),
  // as PyTorch exported PReLU(num_parameters=C); ONNX Runtime reshapes it to [C, 1, ...] likewise.
  if (ctx.opset() <= 6 && slope.rank() == 1 && slope.numel() > 1 && x.rank() > 2 && x.shape()[1] == slope.numel() &&
      slope.dtype() == DType::f32) {
    int64_t channels = x.shape()[1], inner = x.numel() / std::max<int64_t>(x.shape()[0] * channels, 1);
    Tensor out(DType::f32, x.shape());
    const float* px = x.data<float>();
    const float* ps = slope.data<float>();
    float* po = out.data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      float a = ps[i / inner % channels];
      po[i] = px[i] >= 0 ? px[i] : px[i] * a;
    }
    ctx.out(0) = std::move(out);
    return;
  }
  binary_typed<float, float>(ctx, DType::f32, [](float x, float slope) { return x >= 0 ? x : x * slope; });
}

// ---- Cast ----------------------------------------------------------------------------------

template <typename To>
To cast_value(double v) {
  if constexpr (std::is_integral_v<To>) {
    if (std::isnan(v)) return 0;
    return static_cast<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

void cast(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  auto to = static_cast<DType>(ctx.attr_int("to", 0));
  if (to == x.dtype()) {
    ctx.out(0) = x;
    return;
  }
  // float32 <-> float16 / bfloat16, the Casts at a float16 model's edges: exact widening, one
  // round-to-nearest-even narrowing.
  if (x.dtype() == DType::f32 && is_half(to)) {
    ctx.out(0) = float_to_half(x, to, ctx.pool());
    return;
  }
  if (is_half(x.dtype()) && to == DType::f32) {
    ctx.out(0) = half_to_float(x, ctx.pool());
    return;
  }
  Tensor out(to, x.shape());
  int64_t n = x.numel();
  auto read = [&](int64_t i) -> double {
    if (x.dtype() == DType::f32) return x.data<float>()[i];
    return element_as_double(x, i);
  };
  switch (to) {
    case DType::f32: {
      float* po = out.data<float>();
      if (x.dtype() == DType::i64) {
        for (int64_t i = 0; i < n; ++i) po[i] = static_cast<float>(x.data<int64_t>()[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) po[i] = static_cast<float>(read(i));
      }
      break;
    }
    case DType::f64: for (int64_t i = 0; i < n; ++i) out.data<double>()[i] = read(i); break;
    case DType::f16:
      for (int64_t i = 0; i < n; ++i)
        out.data<uint16_t>()[i] = Eigen::numext::bit_cast<uint16_t>(Eigen::half(static_cast<float>(read(i))));
      break;
    case DType::bf16:
      for (int64_t i = 0; i < n; ++i)
        out.data<uint16_t>()[i] = Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(static_cast<float>(read(i))));
      break;
    case DType::boolean: for (int64_t i = 0; i < n; ++i) out.data<uint8_t>()[i] = read(i) != 0; break;
    case DType::i64:
      if (x.dtype() == DType::i64 || x.dtype() == DType::u64) {
        std::memcpy(out.storage().data(), x.storage().data(), x.storage().size());
        break;
      }
      for (int64_t i = 0; i < n; ++i) out.data<int64_t>()[i] = cast_value<int64_t>(read(i));
      break;
    case DType::i32: for (int64_t i = 0; i < n; ++i) out.data<int32_t>()[i] = cast_value<int32_t>(read(i)); break;
    case DType::i16: for (int64_t i = 0; i < n; ++i) out.data<int16_t>()[i] = cast_value<int16_t>(read(i)); break;
    case DType::i8: for (int64_t i = 0; i < n; ++i) out.data<int8_t>()[i] = cast_value<int8_t>(read(i)); break;
    case DType::u8: for (int64_t i = 0; i < n; ++i) out.data<uint8_t>()[i] = cast_value<uint8_t>(read(i)); break;
    case DType::u16: for (int64_t i = 0; i < n; ++i) out.data<uint16_t>()[i] = cast_value<uint16_t>(read(i)); break;
    case DType::u32: for (int64_t i = 0; i < n; ++i) out.data<uint32_t>()[i] = cast_value<uint32_t>(read(i)); break;
    case DType::u64: for (int64_t i = 0; i < n; ++i) out.data<uint64_t>()[i] = cast_value<uint64_t>(read(i)); break;
    default: ctx.unsupported("Cast to " + std::string(dtype_name(to)) + " is not supported");
  }
  ctx.out(0) = std::move(out);
}

// ---- Where, Clip, variadic -----------------------------------------------------------------

void where(OpContext& ctx) {
  const Tensor& c = ctx.in(0);
  const Tensor& x = ctx.in(1);
  const Tensor& y = ctx.in(2);
  if (c.dtype() != DType::boolean) ctx.fail("condition must be bool");
  if (x.dtype() != y.dtype()) ctx.fail("X and Y have different types");
  Shape out_shape = broadcast_shapes(ctx, {&c.shape(), &x.shape(), &y.shape()});
  Tensor out(x.dtype(), out_shape);
  int64_t width = dtype_info(x.dtype()).bits / 8;
  if (width == 0) ctx.unsupported("Where on " + std::string(dtype_name(x.dtype())) + " is not supported");
  std::array<std::vector<int64_t>, 3> strides = {broadcast_strides(c.shape(), out_shape),
                                                 broadcast_strides(x.shape(), out_shape),
                                                 broadcast_strides(y.shape(), out_shape)};
  const uint8_t* pc = c.data<uint8_t>();
  const char* px = x.storage().data();
  const char* py = y.storage().data();
  char* po = out.storage().data();
  for_each_broadcast<3>(out_shape, strides, [&](int64_t i, const std::array<int64_t, 3>& o) {
    const char* src = pc[o[0]] ? px + o[1] * width : py + o[2] * width;
    std::memcpy(po + i * width, src, static_cast<size_t>(width));
  });
  ctx.out(0) = std::move(out);
}

void clip(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  dispatch_numeric(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
    if (ctx.opset() < 11) {
      lo = static_cast<T>(ctx.attr_float("min", -std::numeric_limits<float>::max()));
      hi = static_cast<T>(ctx.attr_float("max", std::numeric_limits<float>::max()));
    } else {
      if (const Tensor* m = ctx.input(1)) lo = m->data<T>()[0];
      if (const Tensor* m = ctx.input(2)) hi = m->data<T>()[0];
    }
    Tensor out(x.dtype(), x.shape());
    const T* px = x.data<T>();
    T* po = out.data<T>();
    ctx.pool().parallel_for(x.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) po[i] = std::min(std::max(px[i], lo), hi);
    });
    ctx.out(0) = std::move(out);
  });
}

template <typename F>
void variadic(OpContext& ctx, F f, bool mean) {
  std::vector<const Shape*> shapes;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) shapes.push_back(&ctx.in(i).shape());
  DType d = ctx.in(0).dtype();
  Shape out_shape = broadcast_shapes(ctx, shapes);
  dispatch_numeric(ctx, d, [&](auto tag) {
    using T = decltype(tag);
    Tensor out(d, out_shape);
    T* po = out.data<T>();
    for (size_t k = 0; k < ctx.num_inputs(); ++k) {
      const Tensor& t = ctx.in(k);
      if (t.dtype() != d) ctx.fail("inputs have different types");
      std::array<std::vector<int64_t>, 1> strides = {broadcast_strides(t.shape(), out_shape)};
      const T* pt = t.data<T>();
      for_each_broadcast<1>(out_shape, strides, [&](int64_t i, const std::array<int64_t, 1>& o) {
        po[i] = k == 0 ? pt[o[0]] : static_cast<T>(f(po[i], pt[o[0]]));
      });
    }
    if (mean)
      for (int64_t i = 0; i < out.numel(); ++i) po[i] = static_cast<T>(po[i] / static_cast<T>(ctx.num_inputs()));
    ctx.out(0) = std::move(out);
  });
}

// NaN propagates, as numpy.maximum / numpy.minimum (ONNX's reference) do.
template <typename T>
T nan_max(T a, T b) {
  if (std::isnan(static_cast<double>(a))) return a;
  if (std::isnan(static_cast<double>(b))) return b;
  return a > b ? a : b;
}
template <typename T>
T nan_min(T a, T b) {
  if (std::isnan(static_cast<double>(a))) return a;
  if (std::isnan(static_cast<double>(b))) return b;
  return a < b ? a : b;
}

void max_op(OpContext& ctx) { variadic(ctx, [](auto a, auto b) { return nan_max(a, b); }, false); }
void min_op(OpContext& ctx) { variadic(ctx, [](auto a, auto b) { return nan_min(a, b); }, false); }
void sum_op(OpContext& ctx) { variadic(ctx, [](auto a, auto b) { return a + b; }, false); }
void mean_op(OpContext& ctx) { variadic(ctx, [](auto a, auto b) { return a + b; }, true); }

constexpr OpDef kOps[] = {
    {"", "Add", add},
    {"", "Sub", sub},
    {"", "Mul", mul},
    {"", "Div", div},
    {"", "Pow", pow_op},
    {"", "Mod", mod_op},
    {"", "Equal", equal},
    {"", "Less", less},
    {"", "LessOrEqual", less_or_equal},
    {"", "Greater", greater},
    {"", "GreaterOrEqual", greater_or_equal},
    {"", "And", and_op},
    {"", "Or", or_op},
    {"", "Xor", xor_op},
    {"", "Not", not_op},
    {"", "IsNaN", is_nan},
    {"", "Relu", relu},
    {"", "Abs", abs_op},
    {"", "Neg", neg},
    {"", "Sign", sign},
    {"", "Identity", identity, true},
    {"", "Exp", exp_op},
    {"", "Log", log_op},
    {"", "Sqrt", sqrt_op},
    {"", "Reciprocal", reciprocal},
    {"", "Floor", floor_op},
    {"", "Ceil", ceil_op},
    {"", "Round", round_op},
    {"", "Sin", sin_op},
    {"", "Cos", cos_op},
    {"", "Tan", tan_op},
    {"", "Tanh", tanh_op},
    {"", "Erf", erf_op},
    {"", "Sigmoid", sigmoid},
    {"", "Softplus", softplus},
    {"", "Softsign", softsign},
    {"", "LeakyRelu", leaky_relu},
    {"", "Elu", elu},
    {"", "Selu", selu},
    {"", "HardSigmoid", hard_sigmoid},
    {"", "HardSwish", hard_swish},
    {"", "Gelu", gelu},
    {"", "Shrink", shrink},
    {"", "PRelu", prelu},
    {"", "Cast", cast, true},
    {"", "Where", where, true},
    {"", "Clip", clip},
    {"", "Max", max_op},
    {"", "Min", min_op},
    {"", "Sum", sum_op},
    {"", "Mean", mean_op},
};

}  // namespace

std::span<const OpDef> elementwise_ops() { return kOps; }

}  // namespace mcompress::exec
