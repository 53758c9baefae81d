// The float GEMM Conv and MatMul run on (see sgemm.h for the math).
//
// AVX-512 builds: C is cut into 8 x 48 tiles whose 24 accumulators stay in registers for the whole
// k loop; each step broadcasts 8 values of A (straight from A's rows: no packing) and loads 3
// vectors of one row of B (no packing either: a 48-column panel of B is k rows read with stride
// ldb, and stays in cache while the tiles below it reuse it). Tiles at the right edge mask their
// last vector; tiles at the bottom edge have fewer rows (one instantiation per row count).
#include "sgemm.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "nn_kernels.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace mcompress::exec {
namespace {

// The epilogue of one element, in the order both kernels apply it.
float finish(float acc, const float* c_old, const float* row_bias, const float* col_bias, bool relu) {
  float v = acc;
  if (c_old) v += *c_old;
  if (row_bias) v += *row_bias;
  if (col_bias) v += *col_bias;
  if (relu && v < 0.f) v = 0.f;
  return v;
}

}  // namespace

void sgemm_ref(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
               int64_t ldc, const SgemmEpilogue& ep) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0.f;
      for (int64_t t = 0; t < k; ++t) acc = std::fma(a[i * lda + t], b[t * ldb + j], acc);
      float* cij = c + i * ldc + j;
      *cij = finish(acc, ep.accumulate ? cij : nullptr, ep.row_bias ? ep.row_bias + i : nullptr,
                    ep.col_bias ? ep.col_bias + j : nullptr, ep.relu);
    }
  }
}

#ifdef __AVX512F__

namespace {

constexpr int kTileRows = 8;
constexpr int kTileVectors = 3;
constexpr int64_t kTileCols = 16 * kTileVectors;
// Rows of A (and C) swept under one panel of B before moving to the next panel: the A rows stay
// in L1/L2 across the panels, B (a weight matrix, usually) in L2.
constexpr int64_t kRowBlock = 96;

// One tile of MR rows x NV vectors; `last` masks the columns of the last vector. a, c and the
// epilogue's bias pointers point at the tile's origin; row t of B's panel is b_rows[t] + j0.
template <int MR, int NV>
void tile(int64_t k, const float* a, int64_t lda, const float* const* b_rows, int64_t j0, float* c, int64_t ldc,
          __mmask16 last, const SgemmEpilogue& ep) {
  __m512 acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t t = 0; t < k; ++t) {
    const float* bt = b_rows[t] + j0;
    __m512 bv[NV];
    for (int v = 0; v + 1 < NV; ++v) bv[v] = _mm512_loadu_ps(bt + 16 * v);
    bv[NV - 1] = _mm512_maskz_loadu_ps(last, bt + 16 * (NV - 1));
    for (int i = 0; i < MR; ++i) {
      __m512 ai = _mm512_set1_ps(a[i * lda + t]);
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
  }
  const __m512 zero = _mm512_setzero_ps();
  // Unrolled, so that acc never leaves the registers (a rolled loop indexing it spills it).
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __mmask16 mask = v + 1 < NV ? __mmask16(0xFFFF) : last;
      __m512 r = acc[i][v];
      if (ep.accumulate) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mask, ci + 16 * v));
      if (ep.row_bias) r = _mm512_add_ps(r, _mm512_set1_ps(ep.row_bias[i]));
      if (ep.col_bias) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mask, ep.col_bias + 16 * v));
      if (ep.relu) r = _mm512_max_ps(zero, r);  // the second operand wins on NaN and on -0
      _mm512_mask_storeu_ps(ci + 16 * v, mask, r);
    }
  }
}

using TileFn = void (*)(int64_t, const float*, int64_t, const float* const*, int64_t, float*, int64_t, __mmask16,
                        const SgemmEpilogue&);

template <int MR>
constexpr std::array<TileFn, kTileVectors> tiles_of_rows() {
  return {tile<MR, 1>, tile<MR, 2>, tile<MR, 3>};
}

// kTiles[rows - 1][vectors - 1].
constexpr std::array<std::array<TileFn, kTileVectors>, kTileRows> kTiles = {
    tiles_of_rows<1>(), tiles_of_rows<2>(), tiles_of_rows<3>(), tiles_of_rows<4>(),
    tiles_of_rows<5>(), tiles_of_rows<6>(), tiles_of_rows<7>(), tiles_of_rows<8>()};

}  // namespace

bool sgemm_is_native() { return true; }

void sgemm_rows(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* const* b_rows, float* c,
                int64_t ldc, const SgemmEpilogue& ep) {
  for (int64_t r0 = 0; r0 < m; r0 += kRowBlock) {
    int64_t r1 = std::min(m, r0 + kRowBlock);
    for (int64_t j0 = 0; j0 < n; j0 += kTileCols) {
      int64_t cols = std::min(kTileCols, n - j0);
      int64_t vectors = (cols + 15) / 16;
      int64_t rest = cols - 16 * (vectors - 1);
      auto last = static_cast<__mmask16>(rest == 16 ? 0xFFFF : (1u << rest) - 1);
      for (int64_t i0 = r0; i0 < r1; i0 += kTileRows) {
        int64_t rows = std::min<int64_t>(kTileRows, r1 - i0);
        SgemmEpilogue at = ep;
        if (at.row_bias) at.row_bias += i0;
        if (at.col_bias) at.col_bias += j0;
        kTiles[rows - 1][vectors - 1](k, a + i0 * lda, lda, b_rows, j0, c + i0 * ldc + j0, ldc, last, at);
      }
    }
  }
}

void sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
           int64_t ldc, const SgemmEpilogue& ep) {
  thread_local std::vector<const float*> rows;
  rows.resize(static_cast<size_t>(k));
  for (int64_t t = 0; t < k; ++t) rows[t] = b + t * ldb;
  sgemm_rows(m, n, k, a, lda, rows.data(), c, ldc, ep);
}

#else  // no AVX-512: Eigen's product, then the epilogue

bool sgemm_is_native() { return false; }

void sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
           int64_t ldc, const SgemmEpilogue& ep) {
  gemm_f32(m, n, k, 1.f, {a, lda, false}, {b, ldb, false}, c, ldc, ep.accumulate);
  if (!ep.row_bias && !ep.col_bias && !ep.relu) return;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float* cij = c + i * ldc + j;
      *cij = finish(*cij, nullptr, ep.row_bias ? ep.row_bias + i : nullptr, ep.col_bias ? ep.col_bias + j : nullptr,
                    ep.relu);
    }
}

void sgemm_rows(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* const* b_rows, float* c,
                int64_t ldc, const SgemmEpilogue& ep) {
  std::vector<float> b(static_cast<size_t>(k * n));
  for (int64_t t = 0; t < k; ++t) std::copy(b_rows[t], b_rows[t] + n, b.begin() + t * n);
  sgemm(m, n, k, a, lda, b.data(), n, c, ldc, ep);
}

#endif

}  // namespace mcompress::exec
