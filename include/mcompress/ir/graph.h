#pragma once
// The in-memory model every pass works on. Values are referred to by name, as in ONNX, so a
// round trip keeps every name; anything the tool does not model is kept as opaque serialized
// protobuf (`extra`: unknown fields of newer ONNX versions, `opaque` type protos, functions),
// so it survives import → export unchanged.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mcompress/tensor/tensor.h"

namespace mcompress::ir {

struct Graph;

// A heap value with value semantics (deep copy), for the recursive Graph ⇄ Attribute.
template <typename T>
class Box {
 public:
  Box() = default;
  explicit Box(T value) : p_(std::make_unique<T>(std::move(value))) {}
  Box(const Box& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  Box(Box&&) noexcept = default;
  Box& operator=(const Box& o) {
    if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
    return *this;
  }
  Box& operator=(Box&&) noexcept = default;
  explicit operator bool() const { return p_ != nullptr; }
  T& operator*() { return *p_; }
  const T& operator*() const { return *p_; }
  T* operator->() { return p_.get(); }
  const T* operator->() const { return p_.get(); }
  T* get() { return p_.get(); }
  const T* get() const { return p_.get(); }

 private:
  std::unique_ptr<T> p_;
};

// A tensor as stored in a model: initializer, attribute value, sparse part.
struct NamedTensor {
  std::string name;
  Tensor tensor;
  std::string doc_string;
  bool typed_encoding = false;  // came in the typed fields (float_data ...) rather than raw_data
  std::string extra;            // unknown and present-but-default protobuf fields, serialized
};

struct SparseTensor {
  NamedTensor values;   // 1-D [NNZ]
  NamedTensor indices;  // [NNZ] linear or [NNZ, rank] coordinates
  Shape dims;
  std::string extra;
};

struct Dim {
  std::optional<int64_t> value;  // known size
  std::string param;             // symbolic name; both empty: unknown
  std::string denotation;
  std::string extra;
};

struct ValueType {
  // Tensor types are modelled; any other (sequence, map, optional, sparse) stays serialized.
  std::string opaque;
  DType elem = DType::undefined;
  std::optional<std::vector<Dim>> shape;
  std::string denotation;
  std::string type_extra;    // unknown / present-but-default fields of the TypeProto
  std::string tensor_extra;  // ... of its tensor type
  bool is_tensor() const { return opaque.empty(); }
};

struct ValueInfo {
  std::string name;
  std::optional<ValueType> type;  // absent: the model declares none (the name only)
  std::string doc_string;
  std::string extra;
  bool empty_type = false;  // no type, written as an empty TypeProto (`type {}`) rather than none
};

enum class AttrType : int32_t {
  undefined = 0,
  f = 1,
  i = 2,
  s = 3,
  tensor = 4,
  graph = 5,
  sparse_tensor = 11,
  type_proto = 13,
  floats = 6,
  ints = 7,
  strings = 8,
  tensors = 9,
  graphs = 10,
  sparse_tensors = 12,
  type_protos = 14,
};

struct Attribute {
  std::string name;
  AttrType type = AttrType::undefined;
  std::string ref_attr_name;  // set inside function bodies
  std::string doc_string;
  float f = 0;
  int64_t i = 0;
  std::string s;
  NamedTensor t;
  Box<Graph> g;
  Box<SparseTensor> sparse;
  std::string tp;  // serialized TypeProto
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<NamedTensor> tensors;
  std::vector<Graph> graphs;
  std::vector<SparseTensor> sparse_tensors;
  std::vector<std::string> type_protos;
  std::string extra;
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;  // "" and "ai.onnx" are the default domain
  std::vector<std::string> inputs;   // "" marks an omitted optional input
  std::vector<std::string> outputs;  // "" marks an omitted optional output
  std::vector<Attribute> attributes;
  std::string doc_string;
  std::string extra;

  const Attribute* attr(std::string_view attr_name) const;
  Attribute* attr(std::string_view attr_name);
  int64_t attr_int(std::string_view attr_name, int64_t fallback) const;
  std::vector<int64_t> attr_ints(std::string_view attr_name) const;
  std::string attr_string(std::string_view attr_name, std::string fallback) const;
  bool is_default_domain() const { return domain.empty() || domain == "ai.onnx"; }
  // "name" or, for unnamed nodes, "OpType#index-free description" used in messages.
  std::string label() const;
};

struct Graph {
  std::string name;
  std::string doc_string;
  std::vector<ValueInfo> inputs;
  std::vector<ValueInfo> outputs;
  std::vector<ValueInfo> value_info;
  std::vector<NamedTensor> initializers;
  std::vector<SparseTensor> sparse_initializers;
  std::vector<Node> nodes;
  std::vector<std::string> quantization_annotation;  // serialized TensorAnnotation each
  std::string extra;

  // Visits every subgraph reachable from this graph's node attributes (not this graph itself),
  // depth first, in node and attribute order.
  template <typename F>
  void for_each_subgraph(F&& f);
  template <typename F>
  void for_each_subgraph(F&& f) const;
};

struct OpsetImport {
  std::string domain;
  int64_t version = 0;
  std::string extra;
};

struct Model {
  int64_t ir_version = 0;
  std::vector<OpsetImport> opset_import;
  std::string producer_name;
  std::string producer_version;
  std::string domain;
  int64_t model_version = 0;
  std::string doc_string;
  Graph graph;
  std::vector<std::pair<std::string, std::string>> metadata_props;
  std::vector<std::string> training_info;  // serialized TrainingInfoProto each
  std::vector<std::string> functions;      // serialized FunctionProto each (model-local functions)
  std::string extra;

  // Opset version of a domain ("" = default ONNX domain); 0 when not imported.
  int64_t opset(std::string_view domain_name) const;
};

template <typename F>
void Graph::for_each_subgraph(F&& f) {
  for (Node& node : nodes) {
    for (Attribute& a : node.attributes) {
      if (a.g) {
        f(*a.g, node);
        a.g->for_each_subgraph(f);
      }
      for (Graph& sub : a.graphs) {
        f(sub, node);
        sub.for_each_subgraph(f);
      }
    }
  }
}

template <typename F>
void Graph::for_each_subgraph(F&& f) const {
  for (const Node& node : nodes) {
    for (const Attribute& a : node.attributes) {
      if (a.g) {
        f(*a.g, node);
        a.g->for_each_subgraph(f);
      }
      for (const Graph& sub : a.graphs) {
        f(sub, node);
        sub.for_each_subgraph(f);
      }
    }
  }
}

}  // namespace mcompress::ir
