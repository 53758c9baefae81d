// mcompress eval BASE CANDIDATE --data D [--labels L]
#include <fmt/format.h>

#include <cmath>
#include <iostream>
#include <memory>

#include "common.h"
#include "mcompress/data/dataset.h"
#include "mcompress/exec/executor.h"
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
  auto preprocess = data::Preprocess::parse(options.data.preprocess);
  ir::Model base = onnxio::load_model(options.base);
  ir::Model candidate = onnxio::load_model(options.candidate);
  exec::Executor base_ex(base, {options.data.threads});
  exec::Executor cand_ex(candidate, {options.data.threads});
  if (base_ex.outputs().size() != cand_ex.outputs().size())
    throw_bad_input("{}: has {} outputs, {} has {}", options.candidate, cand_ex.outputs().size(), options.base,
                    base_ex.outputs().size());
  for (const auto& in : cand_ex.inputs()) {
    bool known = std::any_of(base_ex.inputs().begin(), base_ex.inputs().end(),
                             [&](const ir::ValueInfo& v) { return v.name == in.name; });
    if (!known) throw_bad_input("{}: input '{}' is not an input of {}", options.candidate, in.name, options.base);
  }
  data::Dataset ds = data::load_dataset(options.data.data, base_ex.inputs(), preprocess);
  // --labels, else the image folder's own (class subfolders or labels.csv).
  std::vector<int64_t> labels = ds.labels;
  if (!options.labels.empty()) labels = data::load_labels(options.labels, ds.sample_names);
  if (!labels.empty()) {
    if (static_cast<int64_t>(labels.size()) < ds.samples)
      throw_bad_input("{}: {} labels for {} samples", options.labels.empty() ? options.data.data : options.labels,
                      labels.size(), ds.samples);
  }

  std::vector<report::OutputFidelity> fidelity(base_ex.outputs().size());
  int64_t agree = 0, base_right = 0, cand_right = 0, rows = 0;
  for (int64_t begin = 0; begin < ds.samples; begin += options.data.batch_size) {
    int64_t count = std::min(options.data.batch_size, ds.samples - begin);
    std::vector<Tensor> batch = ds.batch(begin, count);
    std::map<std::string, const Tensor*> feeds;
    for (size_t i = 0; i < batch.size(); ++i) feeds[base_ex.inputs()[i].name] = &batch[i];
    std::map<std::string, const Tensor*> cand_feeds;
    for (const auto& in : cand_ex.inputs()) cand_feeds[in.name] = feeds[in.name];
    auto a = base_ex.run(feeds);
    auto b = cand_ex.run(cand_feeds);
    for (size_t o = 0; o < fidelity.size(); ++o)
      fidelity[o].add(a[base_ex.outputs()[o].name], b[cand_ex.outputs()[o].name]);
    auto pa = report::argmax_rows(a[base_ex.outputs()[0].name]);
    auto pb = report::argmax_rows(b[cand_ex.outputs()[0].name]);
    for (size_t k = 0; k < pa.size(); ++k) {
      agree += pa[k] == pb[k];
      if (!labels.empty() && pa.size() == static_cast<size_t>(count)) {
        base_right += pa[k] == labels[static_cast<size_t>(begin) + k];
        cand_right += pb[k] == labels[static_cast<size_t>(begin) + k];
      }
    }
    rows += static_cast<int64_t>(pa.size());
  }

  report::Report r;
  r.command = "eval";
  r.input = {options.base, model_bytes(options.base)};
  auto& outs = r.extra["outputs"] = nlohmann::ordered_json::array();
  for (size_t o = 0; o < fidelity.size(); ++o) {
    double sqnr = fidelity[o].sqnr_db();
    outs.push_back({{"name", base_ex.outputs()[o].name},
                    {"cosine", fidelity[o].cosine()},
                    {"sqnr_db", std::isinf(sqnr) ? nlohmann::ordered_json("inf") : nlohmann::ordered_json(sqnr)},
                    {"max_abs", fidelity[o].max_abs()}});
  }
  r.extra["top1_agreement"] = rows ? static_cast<double>(agree) / static_cast<double>(rows) : 0.0;
  if (!labels.empty())
    r.extra["accuracy"] = {{"base", static_cast<double>(base_right) / static_cast<double>(ds.samples)},
                           {"candidate", static_cast<double>(cand_right) / static_cast<double>(ds.samples)}};
  r.extra["bytes"] = {{"base", model_bytes(options.base)}, {"candidate", model_bytes(options.candidate)}};
  r.extra["macs"] = {{"base", macs_of(base)}, {"candidate", macs_of(candidate)}};
  r.extra["samples"] = ds.samples;
  r.seconds = clock.seconds();
  if (!options.report.json) {
    for (size_t o = 0; o < fidelity.size(); ++o)  // fmt prints an infinite SQNR as inf
      std::cout << fmt::format("output {}: cosine {:.6f}, SQNR {:.2f} dB, max abs error {:.3g}\n",
                               base_ex.outputs()[o].name, fidelity[o].cosine(), fidelity[o].sqnr_db(),
                               fidelity[o].max_abs());
    std::cout << fmt::format("top-1 agreement {:.2f}% over {} samples\n", 100 * r.extra["top1_agreement"].get<double>(),
                             ds.samples);
    if (!labels.empty())
      std::cout << fmt::format("accuracy: base {:.2f}%, candidate {:.2f}%\n", 100 * r.extra["accuracy"]["base"].get<double>(),
                               100 * r.extra["accuracy"]["candidate"].get<double>());
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
