#pragma once
// Runs one operator kernel on given inputs, for op unit tests.
#include <initializer_list>
#include <string>
#include <vector>

#include "mcompress/exec/op.h"
#include "mcompress/ir/graph.h"

namespace mcompress::test {

// A node of op_type with `inputs` count inputs (named in0, in1, ...; "" where an input is
// nullptr) and `outputs` outputs; attributes are added by the caller.
ir::Node make_node(const std::string& op_type, size_t inputs, size_t outputs, const std::string& domain = "");

ir::Attribute attr_int(const std::string& name, int64_t v);
ir::Attribute attr_float(const std::string& name, float v);
ir::Attribute attr_ints(const std::string& name, std::vector<int64_t> v);
ir::Attribute attr_floats(const std::string& name, std::vector<float> v);
ir::Attribute attr_string(const std::string& name, const std::string& v);

// Runs the registered kernel (threads: pool size) and returns its outputs.
std::vector<Tensor> run_op(const ir::Node& node, const std::vector<const Tensor*>& inputs, int64_t opset = 17,
                           int threads = 1);

Tensor floats(Shape shape, std::vector<float> values);
Tensor int64s(Shape shape, std::vector<int64_t> values);
std::vector<float> values_f32(const Tensor& t);
std::vector<int64_t> values_i64(const Tensor& t);

}  // namespace mcompress::test
