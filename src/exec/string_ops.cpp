// String ops: StringNormalizer (opset 10).
//   Before: X = string tensor [C] or [1, C]
//   After:  Y = X without the stopwords, then lower- or upper-cased; [C'] or [1, C'], and a single
//           empty string ([1] or [1, 1]) when every string was a stopword (ONNX's reference).
//   Known gaps: case changes and case-insensitive matching are ASCII only; `locale` is ignored.
#include <algorithm>
#include <cctype>
#include <set>

#include "kernels.h"

namespace mcompress::exec {
namespace {

std::string change_case(std::string s, int (*f)(int)) {
  std::transform(s.begin(), s.end(), s.begin(), [f](unsigned char c) { return static_cast<char>(f(c)); });
  return s;
}

void string_normalizer(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() != DType::string) ctx.fail("expects a string input");
  if (x.rank() != 1 && !(x.rank() == 2 && x.shape()[0] == 1)) ctx.fail("expects a [C] or [1, C] input");
  std::string action = ctx.attr_string("case_change_action", "NONE");
  if (action != "NONE" && action != "LOWER" && action != "UPPER") ctx.fail("case_change_action " + action);
  bool case_sensitive = ctx.attr_int("is_case_sensitive", 0) != 0;
  std::set<std::string> stopwords;
  if (const ir::Attribute* a = ctx.node().attr("stopwords"))
    for (const std::string& w : a->strings) stopwords.insert(case_sensitive ? w : change_case(w, ::tolower));
  std::vector<std::string> kept;
  for (const std::string& s : x.strings()) {
    if (stopwords.count(case_sensitive ? s : change_case(s, ::tolower))) continue;
    kept.push_back(action == "LOWER" ? change_case(s, ::tolower) : action == "UPPER" ? change_case(s, ::toupper) : s);
  }
  if (kept.empty()) kept.emplace_back();
  auto n = static_cast<int64_t>(kept.size());
  ctx.out(0) = Tensor::from_strings(x.rank() == 1 ? Shape{n} : Shape{1, n}, std::move(kept));
}

constexpr OpDef kOps[] = {
    {"", "StringNormalizer", string_normalizer},
};

}  // namespace

std::span<const OpDef> string_ops() { return kOps; }

}  // namespace mcompress::exec
