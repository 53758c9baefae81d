// mcompress inspect MODEL [--json]
#include <iostream>
#include <memory>

#include "common.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/report/inspect.h"
#include "mcompress/support/error.h"

namespace mcompress::cli {
namespace {

struct InspectOptions {
  std::string model;
  ReportOptions report;
  int64_t batch = 1;
  std::vector<std::string> input_shapes;  // NAME=D1,D2,...
};

onnxio::ShapeOptions shape_options(const InspectOptions& options) {
  onnxio::ShapeOptions shapes;
  shapes.batch = options.batch;
  shapes.input_shapes = parse_input_shapes(options.input_shapes);
  return shapes;
}

void run_inspect(const InspectOptions& options) {
  Stopwatch clock;
  auto shapes = shape_options(options);
  ir::Model model = onnxio::load_model(options.model);
  report::Report r;
  r.command = "inspect";
  r.input = {options.model, file_bytes(options.model)};
  r.extra = report::inspect_model(model, shapes, r.warnings);
  r.seconds = clock.seconds();
  if (!options.report.json) {
    auto j = r.to_json();
    std::cout << report::inspect_text(j);
    for (const auto& w : r.warnings) std::cout << "  warning: " << w << "\n";
  }
  emit_report(r, options.report);
}

}  // namespace

void register_inspect(CLI::App& app) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "Show what is in a model: inputs, ops, weights, MACs");
  cmd->add_option("MODEL", options->model, "ONNX model")->required();
  cmd->add_option("--batch", options->batch, "Batch size assumed for symbolic leading input dims when counting MACs")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--input-shape", options->input_shapes,
                  "Fix an input's shape for shape inference and MACs: NAME=D1,D2,... (repeatable)");
  add_report_options(*cmd, options->report);
  cmd->fallthrough();
  cmd->callback([options] { run_inspect(*options); });
}

}  // namespace mcompress::cli
