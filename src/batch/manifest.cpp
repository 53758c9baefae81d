#include "mcompress/batch/manifest.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "mcompress/support/error.h"
#include "mcompress/support/file_io.h"
#include "mcompress/support/sha256.h"

namespace mcompress::batch {

namespace fs = std::filesystem;
using Json = nlohmann::json;

bool is_batch_command(const std::string& command) { return command == "quantize" || command == "prune"; }

double parse_duration(const std::string& text, const std::string& what) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    throw_usage("{}: '{}' is not a duration (e.g. 90, 90s, 30m, 1h)", what, text);
  }
  std::string unit = text.substr(used);
  double scale = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : -1;
  if (scale < 0 || !(value > 0)) throw_usage("{}: '{}' is not a duration (e.g. 90, 90s, 30m, 1h)", what, text);
  return value * scale;
}

namespace {

bool is_flag(const std::string& token) {
  return token.size() > 1 && token[0] == '-' && !(std::isdigit(static_cast<unsigned char>(token[1])) || token[1] == '.');
}

// Flag groups: a flag and the values after it. Tokens before the first flag form a group of their own.
std::vector<std::vector<std::string>> groups(const std::vector<std::string>& args) {
  std::vector<std::vector<std::string>> out;
  for (const auto& t : args) {
    if (is_flag(t) || out.empty()) out.push_back({});
    out.back().push_back(t);
  }
  return out;
}

std::string flag_name(const std::string& token) { return token.substr(0, token.find('=')); }

// Ids become folder names and report keys: letters, digits, . _ - and / between parts, no ..
bool safe_id(const std::string& id) {
  if (id.empty() || id.front() == '/' || id.back() == '/' || id.size() > 200) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '/')) return false;
  std::stringstream parts(id);
  std::string part;
  while (std::getline(parts, part, '/'))
    if (part.empty() || part == "." || part == ".." || part.front() == '.') return false;
  return true;
}

std::vector<std::string> split_spaces(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string t;
  while (ss >> t) out.push_back(t);
  return out;
}

// One CSV record (RFC 4180 quoting) from `in`; false at the end.
bool read_csv_record(std::istream& in, std::vector<std::string>& cells, int& line) {
  cells.clear();
  std::string cell, text;
  if (!std::getline(in, text)) return false;
  ++line;
  bool quoted = false;
  for (size_t i = 0;; ++i) {
    if (i == text.size()) {
      if (!quoted) break;
      std::string more;
      if (!std::getline(in, more)) throw_usage("line {}: unterminated quote", line);
      ++line;
      cell += '\n';
      text = more;
      i = static_cast<size_t>(-1);
      continue;
    }
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') cell += '"', ++i;
      else if (c == '"') quoted = false;
      else cell += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      cells.push_back(cell);
      cell.clear();
    } else if (c != '\r') {
      cell += c;
    }
  }
  cells.push_back(cell);
  return true;
}

const std::set<std::string> kFields = {"id", "path", "command", "args", "calib", "eval", "eval_labels", "timeout"};

struct RawRow {
  std::map<std::string, Json> fields;
  int line = 0;
};

ManifestRow make_row(const RawRow& raw, const fs::path& base, const std::string& where, const Defaults& defaults) {
  auto loc = [&] { return fmt::format("{}:{}", where, raw.line); };
  auto text = [&](const std::string& key) -> std::string {
    auto it = raw.fields.find(key);
    if (it == raw.fields.end() || it->second.is_null()) return "";
    if (!it->second.is_string()) throw_usage("{}: '{}' must be a string", loc(), key);
    return it->second.get<std::string>();
  };
  ManifestRow row;
  row.line = raw.line;
  std::string path = text("path");
  if (path.empty()) throw_usage("{}: 'path' is required", loc());
  row.path = fs::path(path).is_absolute() ? fs::path(path) : base / path;
  row.id = text("id");
  if (row.id.empty()) {
    row.id = path;
    if (row.id.size() > 5 && row.id.ends_with(".onnx")) row.id.resize(row.id.size() - 5);
  }
  if (!safe_id(row.id))
    throw_usage("{}: id '{}' must be letters, digits, '.', '_', '-' and '/' between parts (no '..')", loc(), row.id);
  row.command = text("command");
  if (row.command.empty()) row.command = defaults.command;
  if (!is_batch_command(row.command)) throw_usage("{}: command '{}': batch runs quantize or prune", loc(), row.command);
  std::vector<std::string> args;
  if (auto it = raw.fields.find("args"); it != raw.fields.end() && !it->second.is_null()) {
    if (it->second.is_string()) {
      args = split_spaces(it->second.get<std::string>());
    } else if (it->second.is_array()) {
      for (const auto& a : it->second) {
        if (!a.is_string()) throw_usage("{}: 'args' must hold strings", loc());
        args.push_back(a.get<std::string>());
      }
    } else {
      throw_usage("{}: 'args' must be a list of strings", loc());
    }
  }
  auto data_flag = [&](const char* key, const char* flag) {
    std::string p = text(key);
    if (p.empty()) return;
    fs::path resolved = fs::path(p).is_absolute() ? fs::path(p) : base / p;
    args.push_back(flag);
    args.push_back(resolved.string());
  };
  data_flag("calib", "--calib");
  data_flag("eval", "--eval-data");
  data_flag("eval_labels", "--eval-labels");
  row.args = merge_args(defaults.args, args);
  if (auto it = raw.fields.find("timeout"); it != raw.fields.end() && !it->second.is_null()) {
    if (it->second.is_number()) {
      row.timeout_s = it->second.get<double>();
      if (!(*row.timeout_s > 0)) throw_usage("{}: timeout must be positive", loc());
    } else if (it->second.is_string()) {
      if (!it->second.get<std::string>().empty())
        row.timeout_s = parse_duration(it->second.get<std::string>(), loc() + ": timeout");
    } else {
      throw_usage("{}: 'timeout' must be seconds or a duration string", loc());
    }
  }
  if (!row.timeout_s) row.timeout_s = defaults.timeout_s;
  return row;
}

std::vector<RawRow> read_jsonl(const fs::path& path) {
  std::ifstream in(path);
  std::vector<RawRow> rows;
  std::string text;
  int line = 0;
  while (std::getline(in, text)) {
    ++line;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    Json j;
    try {
      j = Json::parse(text);
    } catch (const std::exception& e) {
      throw_usage("{}:{}: not JSON: {}", path.string(), line, e.what());
    }
    if (!j.is_object()) throw_usage("{}:{}: expected one JSON object per line", path.string(), line);
    RawRow raw;
    raw.line = line;
    for (auto& [k, v] : j.items()) {
      if (!kFields.count(k)) throw_usage("{}:{}: unknown field '{}'", path.string(), line, k);
      raw.fields[k] = v;
    }
    rows.push_back(std::move(raw));
  }
  return rows;
}

std::vector<RawRow> read_csv(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> header, cells;
  int line = 0;
  try {
    if (!read_csv_record(in, header, line)) throw_usage("{}: empty CSV manifest", path.string());
    for (auto& h : header) {
      h.erase(h.find_last_not_of(" \t") + 1);
      h.erase(0, h.find_first_not_of(" \t"));
      if (!kFields.count(h)) throw_usage("{}:1: unknown column '{}'", path.string(), h);
    }
    std::vector<RawRow> rows;
    while (read_csv_record(in, cells, line)) {
      if (cells.size() == 1 && cells[0].find_first_not_of(" \t") == std::string::npos) continue;
      if (cells.size() != header.size())
        throw_usage("{}:{}: {} cells, the header has {}", path.string(), line, cells.size(), header.size());
      RawRow raw;
      raw.line = line;
      for (size_t i = 0; i < cells.size(); ++i)
        if (!cells[i].empty()) raw.fields[header[i]] = cells[i];
      rows.push_back(std::move(raw));
    }
    return rows;
  } catch (const Error& e) {
    if (std::string(e.what()).starts_with("line ")) throw_usage("{}:{}", path.string(), e.what() + 5);
    throw;
  }
}

}  // namespace

std::vector<std::string> merge_args(const std::vector<std::string>& base, const std::vector<std::string>& row) {
  auto row_groups = groups(row);
  std::set<std::string> overridden;
  for (const auto& g : row_groups)
    if (is_flag(g[0])) overridden.insert(flag_name(g[0]));
  std::vector<std::string> out;
  for (const auto& g : groups(base))
    if (!is_flag(g[0]) || !overridden.count(flag_name(g[0]))) out.insert(out.end(), g.begin(), g.end());
  for (const auto& g : row_groups) out.insert(out.end(), g.begin(), g.end());
  return out;
}

Manifest load_manifest(const fs::path& source, const Defaults& defaults) {
  std::error_code ec;
  Manifest m;
  m.source = source;
  if (!is_batch_command(defaults.command))
    throw_usage("command '{}' after --: batch runs quantize or prune", defaults.command);
  if (fs::is_directory(source, ec)) {
    std::vector<std::string> found;
    for (auto it = fs::recursive_directory_iterator(source, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      // Hidden folders (.git, our own staging) are not part of the zoo.
      std::error_code same_ec;
      bool is_out = !defaults.skip.empty() && it->is_directory() && fs::equivalent(it->path(), defaults.skip, same_ec);
      if (it->path().filename().string().starts_with(".") || is_out) {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file() && it->path().extension() == ".onnx")
        found.push_back(fs::relative(it->path(), source).generic_string());
    }
    std::sort(found.begin(), found.end());
    std::string ids;
    for (const auto& rel : found) {
      RawRow raw;
      raw.fields["path"] = rel;
      m.rows.push_back(make_row(raw, source, source.string(), defaults));
      ids += rel + "\n";
    }
    m.sha256 = sha256_hex(ids);
  } else {
    if (!fs::is_regular_file(source, ec)) throw_usage("{}: no such manifest file or folder", source.string());
    std::string ext = source.extension().string();
    std::vector<RawRow> raw;
    if (ext == ".jsonl" || ext == ".ndjson" || ext == ".json") raw = read_jsonl(source);
    else if (ext == ".csv") raw = read_csv(source);
    else throw_usage("{}: a manifest is .jsonl or .csv (or a folder of .onnx files)", source.string());
    fs::path base = source.parent_path();
    for (const auto& r : raw) m.rows.push_back(make_row(r, base, source.string(), defaults));
    m.sha256 = sha256_file(source);
  }
  std::map<std::string, int> seen;
  for (const auto& row : m.rows) {
    if (auto [it, fresh] = seen.emplace(row.id, row.line); !fresh)
      throw_usage("{}:{}: id '{}' is already used on line {}", source.string(), row.line, row.id, it->second);
    if (defaults.require_models && !fs::is_regular_file(row.path, ec))
      throw_usage("{}:{}: model '{}' not found", source.string(), row.line, row.path.string());
  }
  // An id that is a prefix folder of another would nest one model's outputs in another's.
  for (const auto& [id, line] : seen) {
    auto next = seen.upper_bound(id + "/");
    if (next != seen.end() && next->first.starts_with(id + "/"))
      throw_usage("{}: id '{}' is a folder of id '{}'", source.string(), id, next->first);
  }
  if (m.rows.empty()) throw_usage("{}: no models", source.string());
  return m;
}

}  // namespace mcompress::batch
