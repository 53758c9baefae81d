#include "common.h"

#include <cstdlib>
#include <iostream>
#include <sstream>

#include "mcompress/support/error.h"
#include "mcompress/support/file_io.h"

namespace mcompress::cli {

namespace fs = std::filesystem;

void add_report_options(CLI::App& cmd, ReportOptions& options) {
  cmd.add_flag("--json", options.json, "Print the JSON report on stdout (logs go to stderr)");
  cmd.add_option("--report", options.report_path, "Also write the JSON report to this file");
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

}  // namespace mcompress::cli
