// mcompress batch MANIFEST|DIR --out OUT [-j N|auto] [--timeout D] [--shard-index I --shard-count N | --shard auto]
//                 [--retry-failed] [--max-failures N] [--explain ID] [-- COMMAND ARGS...]
#include <elf.h>
#include <link.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>

#include "common.h"
#include "mcompress/batch/batch.h"
#include "mcompress/batch/merge.h"
#include "mcompress/onnx/external_files.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/support/error.h"
#include "mcompress/support/file_io.h"
#include "mcompress/support/log.h"
#include "mcompress/support/sha256.h"

namespace mcompress::cli {
namespace {

namespace fs = std::filesystem;

struct BatchCliOptions {
  std::string manifest;
  std::string out;
  std::string jobs = "1";
  std::string timeout;
  std::optional<int> shard_index, shard_count;
  std::string shard;
  bool retry_failed = false;
  int max_failures = 0;
  std::string explain;
  std::vector<std::string> defaults;  // after --: COMMAND ARGS...
};

// The GNU build-id note of this executable (the linker's hash of its contents); the executable's
// sha256 when it has none.
std::string build_id() {
  std::string id;
  dl_iterate_phdr(
      [](struct dl_phdr_info* info, size_t, void* data) -> int {
        auto* out = static_cast<std::string*>(data);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const auto& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_NOTE) continue;
          const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
          const char* end = p + ph.p_memsz;
          while (p + sizeof(ElfW(Nhdr)) <= end) {
            const auto* note = reinterpret_cast<const ElfW(Nhdr)*>(p);
            const char* name = p + sizeof(ElfW(Nhdr));
            const auto* desc = reinterpret_cast<const unsigned char*>(name + ((note->n_namesz + 3) & ~3u));
            if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
              for (unsigned k = 0; k < note->n_descsz; ++k) *out += fmt::format("{:02x}", desc[k]);
              return 1;
            }
            p = reinterpret_cast<const char*>(desc) + ((note->n_descsz + 3) & ~3u);
          }
        }
        return 1;  // the first object is the executable itself
      },
      &id);
  if (!id.empty()) return "gnu-build-id:" + id;
  return "sha256:" + sha256_file("/proc/self/exe");
}

void run_batch_command(const BatchCliOptions& options) {
  batch::Defaults defaults;
  if (!options.defaults.empty()) {
    defaults.command = options.defaults[0];
    defaults.args.assign(options.defaults.begin() + 1, options.defaults.end());
  }
  if (!options.timeout.empty()) defaults.timeout_s = batch::parse_duration(options.timeout, "--timeout");
  batch::BatchOptions b;
  b.out = options.out;
  int cpus = batch::available_cpus();
  if (options.jobs == "auto") {
    b.jobs = cpus;
  } else {
    char* end = nullptr;
    long j = std::strtol(options.jobs.c_str(), &end, 10);
    if (options.jobs.empty() || *end != '\0' || j < 1) throw_usage("-j '{}': a positive number or auto", options.jobs);
    b.jobs = static_cast<int>(j);
  }
  b.threads_per_job = std::max(1, cpus / b.jobs);
  if (options.shard == "auto") {
    if (options.shard_index || options.shard_count) throw_usage("--shard auto excludes --shard-index/--shard-count");
    b.shard = batch::resolve_shard_auto([](const char* name) { return std::getenv(name); });
  } else if (!options.shard.empty()) {
    throw_usage("--shard '{}': the only value is auto (or give --shard-index and --shard-count)", options.shard);
  } else if (options.shard_index || options.shard_count) {
    if (!options.shard_index || !options.shard_count) throw_usage("--shard-index and --shard-count go together");
    if (*options.shard_count < 1 || *options.shard_index < 0 || *options.shard_index >= *options.shard_count)
      throw_usage("--shard-index {} --shard-count {}: the index must be 0..count-1", *options.shard_index,
                  *options.shard_count);
    b.shard = {*options.shard_index, *options.shard_count, "flags"};
  }
  b.retry_failed = options.retry_failed;
  b.max_failures = options.max_failures;
  b.progress = log::get().should_log(spdlog::level::info);  // -q: warnings and errors only
  b.progress_tty = ::isatty(2) != 0;
  std::error_code ec;
  b.executable = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error(ExitCode::internal, "cannot find this executable through /proc/self/exe");
  b.tool_version = MCOMPRESS_VERSION;
  b.build_id = build_id();
  b.external_data = [](const fs::path& model) { return onnxio::external_data_files(model); };

  defaults.skip = options.out;  // a zoo folder may hold its own results
  batch::Manifest manifest = batch::load_manifest(options.manifest, defaults);
  if (!options.explain.empty()) {
    std::cout << batch::explain_key(manifest, options.explain, b).dump(2) << std::endl;
    return;
  }
  log::info("batch: {} models, shard {} of {} ({}), {} at a time", manifest.rows.size(), b.shard.index,
            b.shard.count, b.shard.source, b.jobs);
  batch::BatchSummary s = batch::run_batch(manifest, b);
  log::info("batch: {} ran, {} cached, {} ok, {} failed; report {}", s.ran, s.cached, s.ok, s.failed,
            s.report.string());
  if (s.exit_code != 0) throw Error(static_cast<ExitCode>(s.exit_code), fmt::format("batch: {} models failed (see {})", s.failed, s.report.string()));
}

struct MergeCliOptions {
  std::vector<std::string> reports;
  std::string manifest;
  std::string junit;
  std::string summary_md;
  int max_failures = 0;
};

void write_text(const std::string& path, const std::string& text) {
  AtomicFile f(path);
  f.write(text.data(), text.size());
  f.commit();
}

void run_merge(const MergeCliOptions& options) {
  batch::Defaults defaults;
  defaults.require_models = false;
  batch::Manifest manifest = batch::load_manifest(options.manifest, defaults);
  std::vector<fs::path> reports(options.reports.begin(), options.reports.end());
  batch::MergeResult r = batch::merge_reports(manifest, reports, options.max_failures);
  if (!options.junit.empty()) write_text(options.junit, batch::junit_xml(r));
  // $GITHUB_STEP_SUMMARY is a file the runner gives each step: written whole, not appended to.
  if (!options.summary_md.empty()) write_text(options.summary_md, batch::markdown_summary(r));
  log::info("merge: {} models: {} ok, {} failed, {} missing", manifest.rows.size(), r.ok, r.failed, r.missing.size());
  if (!r.missing.empty()) {
    std::string names;
    for (size_t i = 0; i < r.missing.size() && i < 10; ++i) names += (i ? ", " : "") + r.missing[i];
    if (r.missing.size() > 10) names += fmt::format(" and {} more", r.missing.size() - 10);
    throw Error(ExitCode::internal, fmt::format("merge: {} of {} models have no report line (a shard did not run or "
                                                "its report is missing): {}",
                                                r.missing.size(), manifest.rows.size(), names));
  }
  if (r.exit_code != 0)
    throw Error(static_cast<ExitCode>(r.exit_code), fmt::format("merge: {} models failed", r.failed));
}

}  // namespace

void register_batch(CLI::App& app) {
  auto options = std::make_shared<BatchCliOptions>();
  CLI::App* cmd = app.add_subcommand("batch", "Compress every model of a manifest or folder, each in its own process");
  auto merge_options = std::make_shared<MergeCliOptions>();
  CLI::App* merge = cmd->add_subcommand("merge", "Join shard reports: completeness check, JUnit XML, Markdown summary");
  merge->add_option("REPORTS", merge_options->reports, "report*.jsonl files of batch runs")->required();
  merge->add_option("--manifest", merge_options->manifest, "The manifest (or folder) the shards ran")->required();
  merge->add_option("--junit", merge_options->junit, "Write JUnit XML here (one testcase per model)");
  merge->add_option("--summary-md", merge_options->summary_md,
                    "Write a Markdown summary here, worst models first (e.g. \"$GITHUB_STEP_SUMMARY\")");
  merge->add_option("--max-failures", merge_options->max_failures, "Exit 0 while at most N models failed")
      ->check(CLI::NonNegativeNumber);
  merge->fallthrough();
  merge->callback([merge_options] { run_merge(*merge_options); });
  cmd->add_option("MANIFEST", options->manifest, "Manifest (.jsonl or .csv, one model per row) or a folder of .onnx");
  cmd->add_option("DEFAULTS", options->defaults, "After --: the command and arguments every row starts from "
                                                 "(default: quantize)");
  cmd->add_option("--out", options->out, "Output folder: models/<id>/ and report.jsonl");
  cmd->add_option("-j,--jobs", options->jobs, "Models at once: N or auto (the CPUs this process may use)");
  cmd->add_option("--timeout", options->timeout, "Per model (rows may set their own): 90, 90s, 30m, 1h");
  cmd->add_option("--shard-index", options->shard_index, "Run only shard I (0-based) of --shard-count N");
  cmd->add_option("--shard-count", options->shard_count, "Number of shards the manifest is cut into");
  cmd->add_option("--shard", options->shard,
                  "auto: the shard from MCOMPRESS_SHARD_INDEX/COUNT, a Slurm array or a Kubernetes Indexed Job");
  cmd->add_flag("--retry-failed", options->retry_failed, "Run again models that failed with exit 1-4 last time");
  cmd->add_option("--max-failures", options->max_failures, "Exit 0 while at most N models failed (default 0)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--explain", options->explain, "Print the cache key of model ID and what it is made of; run nothing");
  cmd->fallthrough();
  cmd->callback([options, merge] {
    if (merge->parsed()) return;
    if (options->manifest.empty()) throw_usage("batch: MANIFEST is required");
    if (options->out.empty()) throw_usage("batch: --out is required");
    run_batch_command(*options);
  });
}

}  // namespace mcompress::cli
