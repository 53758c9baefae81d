// nn ops: dense products, convolutions, pools, normalisations, softmax and reductions. The
// kernels live in matmul.cpp, conv.cpp, pool.cpp, norm.cpp and reduce.cpp; this is their table.
#include "nn_kernels.h"

namespace mcompress::exec {
namespace {

constexpr OpDef kOps[] = {
    {"", "MatMul", matmul},
    {"", "Gemm", gemm},
    {"", "Einsum", einsum},
    {"", "Conv", conv},
    {"", "ConvTranspose", conv_transpose},
    {"", "MaxPool", max_pool},
    {"", "AveragePool", average_pool},
    {"", "LpPool", lp_pool},
    {"", "GlobalAveragePool", global_average_pool},
    {"", "GlobalMaxPool", global_max_pool},
    {"", "GlobalLpPool", global_lp_pool},
    {"", "BatchNormalization", batch_normalization},
    {"", "InstanceNormalization", instance_normalization},
    {"", "LayerNormalization", layer_normalization},
    {"", "GroupNormalization", group_normalization},
    {"", "Softmax", softmax},
    {"", "LogSoftmax", log_softmax},
    {"", "Hardmax", hardmax},
    {"", "ReduceMax", reduce_max},
    {"", "ReduceMin", reduce_min},
    {"", "ReduceMean", reduce_mean},
    {"", "ReduceSum", reduce_sum},
    {"", "ReduceProd", reduce_prod},
    {"", "ReduceL1", reduce_l1},
    {"", "ReduceL2", reduce_l2},
    {"", "ReduceLogSum", reduce_log_sum},
    {"", "ReduceLogSumExp", reduce_log_sum_exp},
    {"", "ReduceSumSquare", reduce_sum_square},
    {"", "ArgMax", arg_max},
    {"", "ArgMin", arg_min},
};

}  // namespace

std::span<const OpDef> nn_ops() { return kOps; }

}  // namespace mcompress::exec
