#pragma once
// Private to the exec module: the float GEMM with a fused epilogue that Conv and MatMul/Gemm run
// on when neither operand is transposed.
//
// Math: C[i][j] = relu?( (acc + C_old?) + row_bias[i] + col_bias[j] ), acc = sum over t = 0..k-1
// of A[i][t] * B[t][j], summed in that order with one FMA per term. Every element is computed the
// same way whatever the tiling, so results never depend on how a caller splits C into blocks, and
// sgemm (register-blocked, AVX-512) and sgemm_ref (scalar) give identical bits.
// Known gaps: no K blocking (fine for K up to a few thousand: the kernel streams B's rows); without
// AVX-512 sgemm runs Eigen then the epilogue, which sums in a different order than sgemm_ref.
#include <cstdint>

namespace mcompress::exec {

struct SgemmEpilogue {
  const float* row_bias = nullptr;  // one value per row of C, or none
  const float* col_bias = nullptr;  // one value per column of C, or none
  bool accumulate = false;          // add C's previous contents to the product
  bool relu = false;                // max(0, v) last (NaN stays NaN)
};

// C[m x n] (row stride ldc) from A[m x k] (row stride lda) and B[k x n] (row stride ldb), all
// row-major, on the calling thread.
void sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
           int64_t ldc, const SgemmEpilogue& epilogue);

// The same with B's rows anywhere: row t is b_rows[t][0..n). Conv points the rows at shifted
// windows of a padded input instead of unrolling the patches.
void sgemm_rows(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* const* b_rows, float* c,
                int64_t ldc, const SgemmEpilogue& epilogue);

// Scalar twin of sgemm: the same sums in the same order.
void sgemm_ref(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
               int64_t ldc, const SgemmEpilogue& epilogue);

// Whether sgemm runs its own register-blocked kernel (AVX-512 builds) rather than Eigen.
bool sgemm_is_native();

}  // namespace mcompress::exec
