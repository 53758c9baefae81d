// mcompress infer MODEL --data D [-o OUT.npz] [--batch-size N] [--repeat N]
#include <algorithm>
#include <memory>

#include "common.h"
#include "mcompress/data/arrays.h"
#include "mcompress/data/dataset.h"
#include "mcompress/exec/executor.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/support/error.h"
#include "mcompress/support/file_io.h"
#include "mcompress/support/log.h"

namespace mcompress::cli {
namespace {

namespace fs = std::filesystem;

struct InferOptions {
  std::string model;
  DataOptions data;
  std::string output;
  bool force = false;
  int repeat = 0;
  ReportOptions report;
};

std::map<std::string, const Tensor*> feeds_of(const exec::Executor& ex, const std::vector<Tensor>& batch) {
  std::map<std::string, const Tensor*> feeds;
  for (size_t i = 0; i < batch.size(); ++i) feeds[ex.inputs()[i].name] = &batch[i];
  return feeds;
}

// Concatenates per-batch outputs along the sample axis.
Tensor concat_batches(std::vector<Tensor>& parts, const std::string& name) {
  if (parts.size() == 1) return std::move(parts[0]);
  Shape shape = parts[0].shape();
  if (shape.empty()) throw_unsupported("output '{}' has no sample axis to concatenate batches along", name);
  std::string bytes;
  int64_t rows = 0;
  for (const Tensor& p : parts) {
    if (p.dtype() != parts[0].dtype() || p.rank() != parts[0].rank() ||
        !std::equal(p.shape().begin() + 1, p.shape().end(), shape.begin() + 1))
      throw_unsupported("output '{}' changes shape between batches ({} vs {})", name, shape_string(p.shape()),
                        shape_string(parts[0].shape()));
    bytes += p.storage();
    rows += p.shape()[0];
  }
  shape[0] = rows;
  return Tensor::from_bytes(parts[0].dtype(), shape, std::move(bytes));
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void run_infer(const InferOptions& options) {
  Stopwatch clock;
  fs::path out_path = options.output;
  bool write_outputs = !out_path.empty() || options.repeat == 0;
  if (out_path.empty()) {
    fs::path in(options.model);
    out_path = in.parent_path() / (in.stem().string() + ".outputs.npz");
  }
  if (write_outputs) check_output_path(out_path, options.model, options.force);
  auto preprocess = data::Preprocess::parse(options.data.preprocess);
  ir::Model model = onnxio::load_model(options.model);
  exec::Executor ex(model, {options.data.threads});
  data::Dataset ds = data::load_dataset(options.data.data, ex.inputs(), preprocess);

  report::Report r;
  r.command = "infer";
  r.input = {options.model, model_bytes(options.model)};
  int64_t batch_size = std::min(options.data.batch_size, ds.samples);
  if (options.repeat > 0) {
    std::vector<Tensor> batch = ds.batch(0, batch_size);
    auto feeds = feeds_of(ex, batch);
    ex.run(feeds);  // warm-up
    std::vector<double> times;
    for (int i = 0; i < options.repeat; ++i) {
      Stopwatch t;
      ex.run(feeds);
      times.push_back(t.seconds() * 1000);
    }
    r.extra["latency_ms"] = median(times);
    r.extra["batch_size"] = batch_size;
    r.extra["threads"] = ex.pool().size();
    log::info("{}: median {:.2f} ms per batch of {} over {} runs ({} threads)", options.model, median(times),
              batch_size, options.repeat, ex.pool().size());
  }
  if (write_outputs) {
    std::map<std::string, std::vector<Tensor>> parts;
    for (int64_t begin = 0; begin < ds.samples; begin += batch_size) {
      std::vector<Tensor> batch = ds.batch(begin, std::min(batch_size, ds.samples - begin));
      for (auto& [name, t] : ex.run(feeds_of(ex, batch))) parts[name].push_back(std::move(t));
    }
    std::vector<Tensor> outputs;
    outputs.reserve(ex.outputs().size());
    std::vector<std::pair<std::string, const Tensor*>> arrays;
    for (const auto& o : ex.outputs()) outputs.push_back(concat_batches(parts[o.name], o.name));
    for (size_t i = 0; i < outputs.size(); ++i) arrays.emplace_back(ex.outputs()[i].name, &outputs[i]);
    data::write_npz(out_path, arrays);
    r.output = report::FileRef{out_path, file_bytes(out_path)};
    log::info("wrote {} ({} samples)", out_path.string(), ds.samples);
  }
  r.extra["samples"] = ds.samples;
  r.seconds = clock.seconds();
  emit_report(r, options.report);
}

}  // namespace

void register_infer(CLI::App& app) {
  auto options = std::make_shared<InferOptions>();
  CLI::App* cmd = app.add_subcommand("infer", "Run a model with mcompress's own executor and save its outputs");
  cmd->add_option("MODEL", options->model, "ONNX model")->required();
  add_data_options(*cmd, options->data);
  cmd->add_option("-o,--output", options->output, "Outputs as .npz, one array per graph output (default: MODEL.outputs.npz)");
  cmd->add_flag("--force", options->force, "Replace an existing output file");
  cmd->add_option("--repeat", options->repeat, "Time N runs of one batch after a warm-up (JSON: latency_ms, the median)")
      ->check(CLI::NonNegativeNumber);
  add_report_options(*cmd, options->report);
  cmd->fallthrough();
  cmd->callback([options] { run_infer(*options); });
}

}  // namespace mcompress::cli
