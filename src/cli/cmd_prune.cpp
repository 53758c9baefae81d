// mcompress prune MODEL --method magnitude|nm|channel [--sparsity F] [--scope layer|global] [--nm N:M]
//                       [--criterion l1|l2|bn]
#include <fmt/format.h>

#include <iostream>
#include <map>
#include <memory>

#include "common.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/passes/prune.h"
#include "mcompress/report/inspect.h"
#include "mcompress/support/error.h"
#include "mcompress/support/log.h"

namespace mcompress::cli {
namespace {

struct PruneCliOptions {
  std::string model;
  OutputOptions output;
  ReportOptions report;
  GateOptions gates;
  passes::PruneOptions prune;
  bool dense = false;
  int threads = 0;
  int64_t seed = 0;
  std::vector<std::string> input_shapes;  // NAME=D1,D2,...
};

nlohmann::ordered_json model_stats(ir::Model& model, const onnxio::ShapeOptions& shapes, std::vector<std::string>& warnings) {
  auto j = report::inspect_model(model, shapes, warnings);
  return {{"params", j["params"]}, {"macs", j["macs"]}};
}

void run_prune(PruneCliOptions options) {
  options.prune.sparse_storage = !options.dense;
  options.prune.shapes.input_shapes = parse_input_shapes(options.input_shapes);
  options.prune.validate();
  ModelRun run{"prune", options.model, "pruned", &options.output, &options.report, &options.gates, options.threads};
  run_on_model(run, [&](ir::Model& model, report::Report& r) {
    std::vector<std::string> ignored;
    auto before = model_stats(model, options.prune.shapes, ignored);
    auto result = passes::prune(model, options.prune, [](std::string_view line) { log::info("{}", line); });
    auto after = model_stats(model, options.prune.shapes, ignored);
    r.changes = std::move(result.changes);
    r.warnings = std::move(result.warnings);
    for (const auto& [key, value] : result.extra.items()) r.extra[key] = value;
    r.extra["params"] = {{"before", before["params"]}, {"after", after["params"]}};
    r.extra["macs"] = {{"before", before["macs"]}, {"after", after["macs"]}};
    log::info("params {} -> {}, macs {} -> {}", before["params"].dump(), after["params"].dump(),
              before["macs"].dump(), after["macs"].dump());
  });
}

}  // namespace

void register_prune(CLI::App& app) {
  using passes::PruneCriterion;
  using passes::PruneMethod;
  using passes::PruneScope;
  auto options = std::make_shared<PruneCliOptions>();
  CLI::App* cmd = app.add_subcommand("prune", "Remove weights (magnitude, N:M) or whole channels");
  cmd->add_option("MODEL", options->model, "ONNX model")->required();
  add_output_options(*cmd, options->output);
  const std::map<std::string, PruneMethod> methods{
      {"magnitude", PruneMethod::magnitude}, {"nm", PruneMethod::nm}, {"channel", PruneMethod::channel}};
  add_choice(*cmd, "--method", options->prune.method, methods,
             "magnitude|nm|channel: zeros, N:M groups, or a smaller graph", true);
  cmd->add_option("--sparsity", options->prune.sparsity, "Fraction of weights (magnitude) or channels (channel) removed")
      ->capture_default_str();
  const std::map<std::string, PruneScope> scopes{{"layer", PruneScope::layer}, {"global", PruneScope::global}};
  add_choice(*cmd, "--scope", options->prune.scope, scopes,
             "layer|global (magnitude): each weight to the sparsity, or one threshold", true);
  cmd->add_option("--nm", options->prune.nm, "nm: keep N of every M weights along the reduction axis")
      ->capture_default_str();
  const std::map<std::string, PruneCriterion> criteria{
      {"l1", PruneCriterion::l1}, {"l2", PruneCriterion::l2}, {"bn", PruneCriterion::bn}};
  add_choice(*cmd, "--criterion", options->prune.criterion, criteria,
             "l1|l2|bn (channel): filter L1/L2 norm or BatchNorm |gamma|", true);
  cmd->add_option("--input-shape", options->input_shapes,
                  "Fix an input's shape for shape inference and MACs: NAME=D1,D2,... (repeatable)");
  cmd->add_option("--exclude", options->prune.exclude, "Leave matching node or weight names untouched (repeatable)");
  cmd->add_option("--op-types", options->prune.op_types,
                  "Only these ops' weights (magnitude, nm) or output channels (channel): Conv, Gemm, MatMul")
      ->delimiter(',');
  cmd->add_flag("--dense", options->dense, "Keep pruned weights dense (no sparse_initializer)");
  cmd->add_option("--threads", options->threads, "Worker threads (pruning uses one; accepted for uniformity)");
  cmd->add_option("--seed", options->seed, "Seed (pruning is deterministic; accepted for uniformity)");
  add_gate_options(*cmd, options->gates);
  add_report_options(*cmd, options->report);
  cmd->fallthrough();
  cmd->callback([options] { run_prune(*options); });
}

}  // namespace mcompress::cli
