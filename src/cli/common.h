#pragma once
// Flags and plumbing shared by the subcommands: output path rules, JSON report emission.
#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <vector>
#include <string>

#include "mcompress/ir/graph.h"
#include "mcompress/report/fidelity.h"
#include "mcompress/report/gate.h"
#include "mcompress/report/report.h"

namespace mcompress::cli {

struct ReportOptions {
  bool json = false;        // --json: the report on stdout
  std::string report_path;  // --report PATH
};

struct OutputOptions {
  std::string output;  // -o
  bool force = false;
  bool external_data = false;
};

// --data / --preprocess / --batch-size / --threads, for commands that run models.
struct DataOptions {
  std::string data;
  std::string preprocess;
  int64_t batch_size = 100;
  int threads = 0;
};

void add_report_options(CLI::App& cmd, ReportOptions& options);

// Samples to compare a model with another on (eval's --data, a gate's --eval-data).
struct EvalData {
  std::string data;
  std::string labels;      // optional class labels
  std::string preprocess;  // --preprocess spec
  int64_t batch_size = 100;
  int threads = 0;
};

// Runs BASE and CANDIDATE over the samples (matched to BASE's inputs) and compares their outputs.
// `base_name` / `candidate_name` name the models in messages.
report::ModelComparison compare_models(const ir::Model& base, const std::string& base_name,
                                       const ir::Model& candidate, const std::string& candidate_name,
                                       const EvalData& data);

// Quality gates of a compressing command: --eval-data/--eval-labels/--eval-preprocess, the limits,
// --write-anyway.
struct GateOptions {
  EvalData eval;
  report::GateLimits limits;
  bool write_anyway = false;
  // Usage errors: a quality limit without --eval-data, --max-drop without --eval-labels, ...
  void validate() const;
};
void add_gate_options(CLI::App& cmd, GateOptions& options);

// The skeleton every compressing command shares: check the output path, load MODEL, `compress` it
// (filling the report's changes, warnings and own keys), judge the gates, write the output (only
// when they pass, or with --write-anyway) and emit the report. A failed gate throws exit 4 after
// the report is emitted.
struct ModelRun {
  std::string command;  // "quantize"
  std::string model;    // MODEL
  std::string suffix;   // default output suffix: MODEL.<suffix>.onnx
  const OutputOptions* output = nullptr;
  const ReportOptions* report = nullptr;
  const GateOptions* gates = nullptr;
  int threads = 0;
};
void run_on_model(const ModelRun& run, const std::function<void(ir::Model&, report::Report&)>& compress);

// A flag whose value is one of the table's names; sets `target` (a T or an optional<T>).
// `ignore_case`: any case of a name is accepted too.
template <typename Target, typename T>
CLI::Option* add_choice(CLI::App& cmd, const std::string& flag, Target& target, const std::map<std::string, T>& table,
                        const std::string& help, bool ignore_case = false) {
  std::vector<std::string> names;
  for (const auto& [name, value] : table) names.push_back(name);
  // transform, not check: with ignore_case IsMember rewrites the value to the table's spelling.
  auto set = [&target, table](const std::string& s) { target = table.at(s); };
  return cmd.add_option_function<std::string>(flag, set, help)
      ->transform(ignore_case ? CLI::IsMember(names, CLI::ignore_case) : CLI::IsMember(names));
}
// --input-shape NAME=D1,D2,... (repeatable) -> whole shapes by input name; usage error when malformed.
std::map<std::string, std::vector<int64_t>> parse_input_shapes(const std::vector<std::string>& specs);
void add_data_options(CLI::App& cmd, DataOptions& options);
// Bytes of a model file plus OUT.data beside it (the file --external-data writes).
int64_t model_bytes(const std::filesystem::path& path);
void add_output_options(CLI::App& cmd, OutputOptions& options);

// -o if given, else MODEL's stem + "." + suffix + ".onnx" beside it; refuses the input itself
// and (without --force) an existing file.
std::filesystem::path resolve_output(const std::string& model, const OutputOptions& options, std::string_view suffix);

int64_t file_bytes(const std::filesystem::path& path);

// Prints (--json) and/or writes (--report) the report.
void emit_report(const report::Report& report, const ReportOptions& options);

class Stopwatch {
 public:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// Subcommand registration, one per file.
void register_inspect(CLI::App& app);
void register_convert(CLI::App& app);
void register_infer(CLI::App& app);
void register_eval(CLI::App& app);
void register_quantize(CLI::App& app);
void register_prune(CLI::App& app);
void register_batch(CLI::App& app);

}  // namespace mcompress::cli
