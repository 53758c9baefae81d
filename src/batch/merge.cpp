#include "mcompress/batch/merge.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>

#include "mcompress/batch/batch.h"
#include "mcompress/support/error.h"

namespace mcompress::batch {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

namespace {

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default:
        // XML 1.0 has no place for other control characters.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') out += ' ';
        else out += c;
    }
  }
  return out;
}

std::string md_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

std::string text_of(const Json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

// Sort rank: failures first (class 5, 1, 2, 3, 4), then ok rows.
int rank_of(const Json& row) {
  switch (status_class(text_of(row, "status"))) {
    case 5: return 0;
    case 1: return 1;
    case 2: return 2;
    case 3: return 3;
    case 4: return 4;
    default: return 5;
  }
}

double agreement_of(const Json& row) {
  if (row.contains("metrics") && row["metrics"].is_object() && row["metrics"].contains("top1_agreement"))
    return row["metrics"]["top1_agreement"].get<double>();
  return 2.0;  // unmeasured sorts after measured
}

}  // namespace

MergeResult merge_reports(const Manifest& manifest, const std::vector<fs::path>& reports, int max_failures) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < manifest.rows.size(); ++i) index[manifest.rows[i].id] = i;
  std::vector<Json> by_row(manifest.rows.size());
  std::optional<int> shard_count;
  std::string shard_from;
  for (const auto& path : reports) {
    std::ifstream in(path);
    if (!in) throw_usage("{}: cannot read the report", path.string());
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (line.empty()) continue;
      Json j;
      try {
        j = Json::parse(line);
      } catch (const std::exception& e) {
        throw_usage("{}:{}: not a JSON line: {}", path.string(), n, e.what());
      }
      std::string id = text_of(j, "id");
      auto it = index.find(id);
      if (it == index.end())
        throw_usage("{}:{}: id '{}' is not in {}", path.string(), n, id, manifest.source.string());
      if (j.contains("shard") && j["shard"].contains("count")) {
        int count = j["shard"]["count"].get<int>();
        if (shard_count && *shard_count != count)
          throw_usage("{}:{}: shard count {} differs from {} in {}", path.string(), n, count, *shard_count, shard_from);
        shard_count = count;
        shard_from = path.string();
      }
      by_row[it->second] = std::move(j);  // the last line read for an id wins
    }
  }
  MergeResult r;
  std::vector<int> failures(6, 0);
  for (size_t i = 0; i < by_row.size(); ++i) {
    if (by_row[i].is_null()) {
      r.missing.push_back(manifest.rows[i].id);
      continue;
    }
    int cls = status_class(text_of(by_row[i], "status"));
    if (cls == 0) ++r.ok;
    else ++r.failed, ++failures[static_cast<size_t>(cls)];
    if (by_row[i].contains("cache") && by_row[i]["cache"].value("hit", false)) ++r.cached;
    r.rows.push_back(std::move(by_row[i]));
  }
  r.exit_code = r.missing.empty() ? batch_exit_code(failures, max_failures) : 5;
  return r;
}

std::string junit_xml(const MergeResult& result) {
  int errors = static_cast<int>(result.missing.size()), failures = 0;
  double total_s = 0;
  for (const auto& row : result.rows) {
    int cls = status_class(text_of(row, "status"));
    if (cls == 5) ++errors;
    else if (cls != 0) ++failures;
    if (row.contains("time_s") && row["time_s"].is_number()) total_s += row["time_s"].get<double>();
  }
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x += fmt::format("<testsuites tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3f}\">\n",
                   result.rows.size() + result.missing.size(), failures, errors, total_s);
  x += fmt::format("  <testsuite name=\"mcompress.batch\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3f}\">\n",
                   result.rows.size() + result.missing.size(), failures, errors, total_s);
  for (const auto& row : result.rows) {
    std::string id = text_of(row, "id"), status = text_of(row, "status");
    double t = row.contains("time_s") && row["time_s"].is_number() ? row["time_s"].get<double>() : 0.0;
    x += fmt::format("    <testcase classname=\"mcompress.batch\" name=\"{}\" time=\"{:.3f}\">\n", xml_escape(id), t);
    x += "      <properties>\n";
    x += fmt::format("        <property name=\"status\" value=\"{}\"/>\n", xml_escape(status));
    if (row.contains("ratio") && row["ratio"].is_number())
      x += fmt::format("        <property name=\"ratio\" value=\"{:.4f}\"/>\n", row["ratio"].get<double>());
    if (agreement_of(row) <= 1.0)
      x += fmt::format("        <property name=\"top1_agreement\" value=\"{:.4f}\"/>\n", agreement_of(row));
    x += "      </properties>\n";
    int cls = status_class(status);
    if (cls != 0) {
      std::string message = text_of(row, "error");
      x += fmt::format("      <{} type=\"{}\" message=\"{}\">exit class {}</{}>\n", cls == 5 ? "error" : "failure",
                       xml_escape(status), xml_escape(message), cls, cls == 5 ? "error" : "failure");
    }
    x += "    </testcase>\n";
  }
  for (const auto& id : result.missing)
    x += fmt::format("    <testcase classname=\"mcompress.batch\" name=\"{}\" time=\"0\">\n      <error type=\"missing\" "
                     "message=\"no report line: its shard did not run or its report was not merged\"/>\n"
                     "    </testcase>\n",
                     xml_escape(id));
  x += "  </testsuite>\n</testsuites>\n";
  return x;
}

std::string markdown_summary(const MergeResult& result, size_t max_rows) {
  std::string md = "## mcompress batch\n\n";
  md += fmt::format("{} models: **{} ok**, **{} failed**, {} missing ({} reused from the cache). Exit code {}.\n\n",
                    result.rows.size() + result.missing.size(), result.ok, result.failed, result.missing.size(),
                    result.cached, result.exit_code);
  if (!result.missing.empty()) {
    md += "Missing (no report line): ";
    for (size_t i = 0; i < result.missing.size() && i < max_rows; ++i)
      md += (i ? ", " : "") + std::string("`") + result.missing[i] + "`";
    md += "\n\n";
  }
  std::vector<const Json*> order;
  for (const auto& row : result.rows) order.push_back(&row);
  std::stable_sort(order.begin(), order.end(), [](const Json* a, const Json* b) {
    if (rank_of(*a) != rank_of(*b)) return rank_of(*a) < rank_of(*b);
    if (agreement_of(*a) != agreement_of(*b)) return agreement_of(*a) < agreement_of(*b);
    double ra = (*a).contains("ratio") && (*a)["ratio"].is_number() ? (*a)["ratio"].get<double>() : 0;
    double rb = (*b).contains("ratio") && (*b)["ratio"].is_number() ? (*b)["ratio"].get<double>() : 0;
    return ra > rb;
  });
  md += "| model | status | size ratio | top-1 agreement | time (s) | error |\n|---|---|---|---|---|---|\n";
  for (size_t i = 0; i < order.size() && i < max_rows; ++i) {
    const Json& row = *order[i];
    std::string ratio = row.contains("ratio") && row["ratio"].is_number() ? fmt::format("{:.3f}", row["ratio"].get<double>()) : "";
    std::string agree = agreement_of(row) <= 1.0 ? fmt::format("{:.2f}%", 100 * agreement_of(row)) : "";
    double t = row.contains("time_s") && row["time_s"].is_number() ? row["time_s"].get<double>() : 0.0;
    md += fmt::format("| {} | {} | {} | {} | {:.2f} | {} |\n", md_escape(text_of(row, "id")), text_of(row, "status"),
                      ratio, agree, t, md_escape(text_of(row, "error")));
  }
  if (order.size() > max_rows) md += fmt::format("\n… and {} more (all in the JSONL report).\n", order.size() - max_rows);
  return md;
}

}  // namespace mcompress::batch
