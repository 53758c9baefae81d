#pragma once
// lower_to_qoperator: QDQ groups -> QOperator nodes (--format qoperator).
//
//   Before: DQ(x), DQ(w int8) [, DQ(b int32)] -> Conv -> Q(y)      After: QLinearConv
//           DQ(a), DQ(w int8) -> MatMul -> Q(y)                     After: QLinearMatMul
//           DQ(a), DQ(w int8) -> MatMul (float output)              After: MatMulIntegerToFloat
//           DQ(a), DQ(w int8) [, DQ(c int32)] -> Gemm [-> Q(y)]     After: com.microsoft.QGemm
//                                                                   (float output without Q)
//   Preconditions: the group's inputs are DequantizeLinear outputs, the op's output is read by
//     that one QuantizeLinear only (Gemm, MatMul: or by anything, when it stays float) and is no graph
//     output.
//   Everything else keeps its QuantizeLinear / DequantizeLinear pairs (the boundaries).
//   Known gaps: Add, Concat, pooling stay QDQ (ORT fuses them itself).
#include <nlohmann/json.hpp>

#include "mcompress/ir/graph.h"

namespace mcompress::passes {

// Counts per emitted op type.
nlohmann::ordered_json lower_to_qoperator(ir::Model& model);

}  // namespace mcompress::passes
