#include "mcompress/ir/graph.h"

namespace mcompress::ir {

const Attribute* Node::attr(std::string_view attr_name) const {
  for (const Attribute& a : attributes)
    if (a.name == attr_name) return &a;
  return nullptr;
}

Attribute* Node::attr(std::string_view attr_name) {
  for (Attribute& a : attributes)
    if (a.name == attr_name) return &a;
  return nullptr;
}

int64_t Node::attr_int(std::string_view attr_name, int64_t fallback) const {
  const Attribute* a = attr(attr_name);
  return a && a->type == AttrType::i ? a->i : fallback;
}

std::vector<int64_t> Node::attr_ints(std::string_view attr_name) const {
  const Attribute* a = attr(attr_name);
  return a && a->type == AttrType::ints ? a->ints : std::vector<int64_t>{};
}

std::string Node::attr_string(std::string_view attr_name, std::string fallback) const {
  const Attribute* a = attr(attr_name);
  return a && a->type == AttrType::s ? a->s : fallback;
}

std::string Node::label() const {
  if (!name.empty()) return "'" + name + "' (" + op_type + ")";
  std::string first = outputs.empty() ? std::string() : outputs.front();
  return "unnamed " + op_type + " writing '" + first + "'";
}

int64_t Model::opset(std::string_view domain_name) const {
  auto is_default = [](std::string_view d) { return d.empty() || d == "ai.onnx"; };
  for (const OpsetImport& o : opset_import) {
    if (o.domain == domain_name || (is_default(o.domain) && is_default(domain_name))) return o.version;
  }
  return 0;
}

}  // namespace mcompress::ir
