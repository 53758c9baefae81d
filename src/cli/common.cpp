#include "common.h"

#include <fmt/format.h>
#include <stdlib.h>

#include <cstdlib>
#include <iostream>
#include <sstream>

#include "mcompress/data/dataset.h"
#include "mcompress/exec/executor.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/passes/pass.h"
#include "mcompress/support/error.h"
#include "mcompress/support/file_io.h"
#include "mcompress/support/log.h"

namespace mcompress::cli {

namespace fs = std::filesystem;

void add_report_options(CLI::App& cmd, ReportOptions& options) {
  cmd.add_flag("--json", options.json, "Print the JSON report on stdout (logs go to stderr)");
  cmd.add_option("--report", options.report_path, "Also write the JSON report to this file");
}

report::ModelComparison compare_models(const ir::Model& base, const std::string& base_name,
                                       const ir::Model& candidate, const std::string& candidate_name,
                                       const EvalData& data) {
  auto preprocess = data::Preprocess::parse(data.preprocess);
  exec::Executor base_ex(base, {data.threads});
  exec::Executor cand_ex(candidate, {data.threads});
  if (base_ex.outputs().size() != cand_ex.outputs().size())
    throw_bad_input("{}: has {} outputs, {} has {}", candidate_name, cand_ex.outputs().size(), base_name,
                    base_ex.outputs().size());
  for (const auto& in : cand_ex.inputs()) {
    bool known = std::any_of(base_ex.inputs().begin(), base_ex.inputs().end(),
                             [&](const ir::ValueInfo& v) { return v.name == in.name; });
    if (!known) throw_bad_input("{}: input '{}' is not an input of {}", candidate_name, in.name, base_name);
  }
  data::Dataset ds = data::load_dataset(data.data, base_ex.inputs(), preprocess);
  // --labels, else the image folder's own (class subfolders or labels.csv).
  std::vector<int64_t> labels = ds.labels;
  if (!data.labels.empty()) labels = data::load_labels(data.labels, ds.sample_names);
  if (!labels.empty() && static_cast<int64_t>(labels.size()) < ds.samples)
    throw_bad_input("{}: {} labels for {} samples", data.labels.empty() ? data.data : data.labels, labels.size(),
                    ds.samples);
  std::vector<std::string> names;
  for (const auto& o : base_ex.outputs()) names.push_back(o.name);
  report::ModelComparison comparison(names);
  for (int64_t begin = 0; begin < ds.samples; begin += data.batch_size) {
    int64_t count = std::min(data.batch_size, ds.samples - begin);
    std::vector<Tensor> batch = ds.batch(begin, count);
    std::map<std::string, const Tensor*> feeds;
    for (size_t i = 0; i < batch.size(); ++i) feeds[base_ex.inputs()[i].name] = &batch[i];
    std::map<std::string, const Tensor*> cand_feeds;
    for (const auto& in : cand_ex.inputs()) cand_feeds[in.name] = feeds[in.name];
    auto a = base_ex.run(feeds);
    auto b = cand_ex.run(cand_feeds);
    std::vector<Tensor> base_outs, cand_outs;
    for (size_t o = 0; o < names.size(); ++o) {
      base_outs.push_back(std::move(a[names[o]]));
      cand_outs.push_back(std::move(b[cand_ex.outputs()[o].name]));
    }
    comparison.add(base_outs, cand_outs, begin, count, labels);
  }
  comparison.set_samples(ds.samples);
  return comparison;
}

void GateOptions::validate() const {
  if (limits.needs_comparison() && eval.data.empty())
    throw_usage("--max-drop, --min-agreement and --min-sqnr need --eval-data");
  if (eval.data.empty() && (!eval.labels.empty() || !eval.preprocess.empty()))
    throw_usage("--eval-labels and --eval-preprocess need --eval-data");
  if (limits.max_drop_points && eval.labels.empty())
    throw_usage("--max-drop needs --eval-labels (without labels use --min-agreement or --min-sqnr)");
  data::Preprocess::parse(eval.preprocess);
}

void add_gate_options(CLI::App& cmd, GateOptions& options) {
  auto set = [](std::optional<double>& target) { return [&target](double v) { target = v; }; };
  cmd.add_option("--eval-data", options.eval.data,
                 "Samples to compare the result with MODEL on (same formats as --calib); recorded in the report");
  cmd.add_option("--eval-labels", options.eval.labels, "Class labels (.npy or IDX) of --eval-data, for --max-drop");
  cmd.add_option("--eval-preprocess", options.eval.preprocess, "Preprocessing of --eval-data, e.g. scale=0.00392157");
  cmd.add_option_function<double>("--max-drop", set(options.limits.max_drop_points),
                                  "Gate: top-1 accuracy may fall at most this many percentage points")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option_function<double>("--min-agreement", set(options.limits.min_agreement_pct),
                                  "Gate: top-1 agreement with MODEL at least this many percent")
      ->check(CLI::Range(0.0, 100.0));
  cmd.add_option_function<double>("--min-sqnr", set(options.limits.min_sqnr_db),
                                  "Gate: every output's SQNR against MODEL at least this many dB");
  cmd.add_option_function<double>("--max-size-ratio", set(options.limits.max_size_ratio),
                                  "Gate: output bytes / input bytes at most this (external data counted)")
      ->check(CLI::PositiveNumber);
  cmd.add_flag("--write-anyway", options.write_anyway, "Write the output even when a gate fails (still exit 4)");
}

std::map<std::string, std::vector<int64_t>> parse_input_shapes(const std::vector<std::string>& specs) {
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const std::string& spec : specs) {
    auto eq = spec.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      throw_usage("--input-shape '{}': expected NAME=D1,D2,... (e.g. x=1,3,48,320)", spec);
    std::vector<int64_t> dims;
    std::stringstream ss(spec.substr(eq + 1));
    std::string dim;
    while (std::getline(ss, dim, ',')) {
      char* end = nullptr;
      long long d = std::strtoll(dim.c_str(), &end, 10);
      if (dim.empty() || *end != '\0' || d < 0) throw_usage("--input-shape '{}': '{}' is not a dimension", spec, dim);
      dims.push_back(d);
    }
    shapes[spec.substr(0, eq)] = dims;
  }
  return shapes;
}

void add_data_options(CLI::App& cmd, DataOptions& options) {
  cmd.add_option("--data", options.data,
                 "Samples: .npy, .npz, a folder of TensorProto .pb files (ONNX's test_data_set_N), a folder of "
                 "PNG/JPEG images (class subfolders optional), or IDX (.gz)")
      ->required();
  cmd.add_option("--preprocess", options.preprocess,
                 "scale=S,mean=M,std=D (per channel: mean=A:B:C), layout=nchw|nhwc; images: "
                 "resize=N|H:W, center-crop[=N|H:W], rgb|bgr|gray");
  cmd.add_option("--batch-size", options.batch_size, "Samples per forward pass")->check(CLI::PositiveNumber);
  cmd.add_option("--threads", options.threads, "Worker threads (default: all cores); results do not depend on it")
      ->check(CLI::NonNegativeNumber);
}

int64_t model_bytes(const fs::path& path) {
  int64_t total = file_bytes(path);
  fs::path data = path;
  data += ".data";
  if (fs::exists(data)) total += file_bytes(data);
  return total;
}

void add_output_options(CLI::App& cmd, OutputOptions& options) {
  cmd.add_option("-o,--output", options.output, "Where to write the model (default: beside MODEL with a suffix)");
  cmd.add_flag("--force", options.force, "Replace an existing output file");
  cmd.add_flag("--external-data", options.external_data,
               "Write weights to OUT.data beside OUT (forced when they pass 2 GB)");
}

fs::path resolve_output(const std::string& model, const OutputOptions& options, std::string_view suffix) {
  fs::path out = options.output;
  if (out.empty()) {
    fs::path in(model);
    out = in.parent_path() / (in.stem().string() + "." + std::string(suffix) + ".onnx");
  }
  check_output_path(out, model, options.force);
  if (options.external_data && !options.force) {
    fs::path data = out;
    data += ".data";
    check_output_path(data, model, false);
  }
  return out;
}

int64_t file_bytes(const fs::path& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

void emit_report(const report::Report& report, const ReportOptions& options) {
  auto j = report.to_json();
  if (options.json) std::cout << j.dump(2) << std::endl;
  if (options.report_path.empty()) return;
  std::string text = j.dump(2) + "\n";
  AtomicFile file(options.report_path);
  file.write(text.data(), text.size());
  file.commit();
}

namespace {

// A folder beside `out` that the output is written into before the size gate is judged; moved
// into place (data file first) or removed. Its name starts with a dot, like AtomicFile's temporaries.
class Staging {
 public:
  explicit Staging(const fs::path& out) : out_(out) {
    fs::path dir = out.parent_path().empty() ? fs::path(".") : out.parent_path();
    std::string pattern = (dir / ("." + out.filename().string() + ".gate.XXXXXX")).string();
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) throw_bad_input("{}: cannot create a folder beside it", out.string());
    dir_ = buf.data();
  }
  ~Staging() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path path() const { return dir_ / out_.filename(); }
  void commit(const onnxio::SaveResult& saved) {
    if (saved.external) {
      fs::path data = out_;
      data += ".data";
      fs::rename(saved.data_path, data);
    }
    fs::rename(path(), out_);
  }

 private:
  fs::path out_;
  fs::path dir_;
};

}  // namespace

void run_on_model(const ModelRun& run, const std::function<void(ir::Model&, report::Report&)>& compress) {
  Stopwatch clock;
  const GateOptions& gates = *run.gates;
  gates.validate();
  auto out_path = resolve_output(run.model, *run.output, run.suffix);
  ir::Model model = onnxio::load_model(run.model);

  report::Report r;
  r.command = run.command;
  r.input = {run.model, model_bytes(run.model)};
  compress(model, r);
  for (const auto& w : r.warnings) log::warn("{}", w);

  std::optional<report::ModelComparison> comparison;
  if (!gates.eval.data.empty()) {
    EvalData eval = gates.eval;
    eval.threads = run.threads;
    ir::Model base = onnxio::load_model(run.model);
    comparison = compare_models(base, run.model, model, out_path.string(), eval);
    r.extra["eval"] = comparison->to_json();
    log::info("eval on {} samples: top-1 agreement {:.2f}%, worst output SQNR {:.2f} dB", comparison->samples(),
              100 * comparison->top1_agreement(), comparison->min_sqnr_db());
  }
  const report::GateLimits& limits = gates.limits;
  std::vector<report::GateVerdict> verdicts = report::judge_gates(limits, comparison ? &*comparison : nullptr, 0);
  bool quality_ok = report::all_passed(verdicts);

  onnxio::SaveOptions save;
  save.external_data = run.output->external_data;
  bool written = false;
  int64_t out_bytes = 0;
  if (limits.max_size_ratio) {
    // The size is known only once serialized: write beside the target, move in if it passes.
    Staging staging(out_path);
    auto saved = onnxio::save_model(std::move(model), staging.path(), save);
    out_bytes = saved.model_bytes + saved.data_bytes;
    double ratio = r.input.bytes ? static_cast<double>(out_bytes) / static_cast<double>(r.input.bytes) : 0.0;
    verdicts = report::judge_gates(limits, comparison ? &*comparison : nullptr, ratio);
    if (report::all_passed(verdicts) || gates.write_anyway) {
      staging.commit(saved);
      written = true;
    }
  } else if (quality_ok || gates.write_anyway) {
    auto saved = onnxio::save_model(std::move(model), out_path, save);
    out_bytes = saved.model_bytes + saved.data_bytes;
    written = true;
  }
  if (written) r.output = report::FileRef{out_path, out_bytes};
  if (limits.any()) r.extra["gates"] = report::gates_json(verdicts);
  r.seconds = clock.seconds();
  if (written)
    log::info("wrote {} ({} -> {}) in {:.2f} s", out_path.string(), passes::format_bytes(r.input.bytes),
              passes::format_bytes(out_bytes), r.seconds);
  emit_report(r, *run.report);

  if (!report::all_passed(verdicts)) {
    std::string failed;
    for (const auto& v : verdicts)
      if (!v.passed) failed += (failed.empty() ? "" : "; ") + v.message();
    throw Error(ExitCode::quality_gate, fmt::format("{}: quality gate failed: {}; {}", run.model, failed,
                                                    written ? "written anyway to " + out_path.string()
                                                            : std::string("nothing written")));
  }
}

}  // namespace mcompress::cli
