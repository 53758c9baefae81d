// mcompress convert MODEL -o OUT [--external-data] [--constants-to-initializers]
#include <memory>

#include "common.h"
#include "mcompress/ir/weights.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/support/log.h"

namespace mcompress::cli {
namespace {

struct ConvertOptions {
  std::string model;
  OutputOptions output;
  ReportOptions report;
  bool constants_to_initializers = false;
};

void run_convert(const ConvertOptions& options) {
  Stopwatch clock;
  auto out_path = resolve_output(options.model, options.output, "converted");
  ir::Model model = onnxio::load_model(options.model);
  log::debug("loaded {} in {:.3f} s", options.model, clock.seconds());

  report::Report r;
  r.command = "convert";
  r.input = {options.model, file_bytes(options.model)};
  if (options.constants_to_initializers) {
    // Collect the rows first: moving invalidates the references.
    for (const ir::WeightRef& w : ir::collect_weights(model.graph)) {
      if (w.kind != ir::WeightKind::constant_node) continue;
      int64_t bytes = w.stored_bytes();
      r.changes.push_back({w.name(), "Constant", "constant_to_initializer", bytes, bytes, std::nullopt, std::nullopt});
    }
    auto moved = ir::constants_to_initializers(model.graph, model.ir_version < 4);
    std::erase_if(r.changes, [&](const report::TensorChange& c) {
      return std::find(moved.begin(), moved.end(), c.name) == moved.end();
    });
    log::info("moved {} Constant-node tensors to initializers", moved.size());
  }

  onnxio::SaveOptions save;
  save.external_data = options.output.external_data;
  auto saved = onnxio::save_model(std::move(model), out_path, save);
  r.output = report::FileRef{out_path, saved.model_bytes + saved.data_bytes};
  if (saved.external) log::info("{}: {} bytes of weights in {}", out_path.string(), saved.data_bytes, saved.data_path.string());
  r.seconds = clock.seconds();
  log::info("wrote {} ({} bytes) in {:.2f} s", out_path.string(), r.output->bytes, r.seconds);
  emit_report(r, options.report);
}

}  // namespace

void register_convert(CLI::App& app) {
  auto options = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand("convert", "Rewrite a model without compressing it");
  cmd->add_option("MODEL", options->model, "ONNX model")->required();
  add_output_options(*cmd, options->output);
  cmd->add_flag("--constants-to-initializers", options->constants_to_initializers,
                "Move Constant-node tensors (main graph and subgraphs) to initializers");
  add_report_options(*cmd, options->report);
  cmd->fallthrough();
  cmd->callback([options] { run_convert(*options); });
}

}  // namespace mcompress::cli
