// mcompress eval BASE CANDIDATE --data D [--labels L]
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "common.h"
#include "mcompress/data/dataset.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/report/fidelity.h"
#include "mcompress/report/inspect.h"
#include "mcompress/support/error.h"

namespace mcompress::cli {
namespace {

struct EvalOptions {
  std::string base;
  std::string candidate;
  DataOptions data;
  std::string labels;
  ReportOptions report;
};

nlohmann::ordered_json macs_of(ir::Model& model) {
  std::vector<std::string> ignored;
  return report::inspect_model(model, {}, ignored)["macs"];
}

void run_eval(const EvalOptions& options) {
  Stopwatch clock;
  data::Preprocess::parse(options.data.preprocess);  // a usage error before any file is read
  ir::Model base = onnxio::load_model(options.base);
  ir::Model candidate = onnxio::load_model(options.candidate);
  EvalData data{options.data.data, options.labels, options.data.preprocess, options.data.batch_size,
                options.data.threads};
  report::ModelComparison comparison = compare_models(base, options.base, candidate, options.candidate, data);
  const auto& fidelity = comparison.outputs();

  report::Report r;
  r.command = "eval";
  r.input = {options.base, model_bytes(options.base)};
  r.extra = comparison.to_json();
  r.extra["bytes"] = {{"base", model_bytes(options.base)}, {"candidate", model_bytes(options.candidate)}};
  r.extra["macs"] = {{"base", macs_of(base)}, {"candidate", macs_of(candidate)}};
  r.seconds = clock.seconds();
  if (!options.report.json) {
    for (size_t o = 0; o < fidelity.size(); ++o)  // fmt prints an infinite SQNR as inf
      std::cout << fmt::format("output {}: cosine {:.6f}, SQNR {:.2f} dB, max abs error {:.3g}\n",
                               comparison.output_names()[o], fidelity[o].cosine(), fidelity[o].sqnr_db(),
                               fidelity[o].max_abs());
    std::cout << fmt::format("top-1 agreement {:.2f}% over {} samples\n", 100 * comparison.top1_agreement(),
                             comparison.samples());
    if (comparison.labelled())
      std::cout << fmt::format("accuracy: base {:.2f}%, candidate {:.2f}%\n", 100 * comparison.base_accuracy(),
                               100 * comparison.candidate_accuracy());
    std::cout << fmt::format("bytes: base {}, candidate {}\n", r.extra["bytes"]["base"].get<int64_t>(),
                             r.extra["bytes"]["candidate"].get<int64_t>());
  }
  emit_report(r, options.report);
}

}  // namespace

void register_eval(CLI::App& app) {
  auto options = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand("eval", "How far CANDIDATE is from BASE, run by mcompress's own executor");
  cmd->add_option("BASE", options->base, "Reference ONNX model")->required();
  cmd->add_option("CANDIDATE", options->candidate, "ONNX model to compare")->required();
  add_data_options(*cmd, options->data);
  cmd->add_option("--labels", options->labels,
                  "Integer class labels for accuracy: .npy, IDX, or a FILE,LABEL CSV for an image folder "
                  "(default: the image folder's class subfolders or labels.csv)");
  add_report_options(*cmd, options->report);
  cmd->fallthrough();
  cmd->callback([options] { run_eval(*options); });
}

}  // namespace mcompress::cli
