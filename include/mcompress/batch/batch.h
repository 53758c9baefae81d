#pragma once
// `mcompress batch`: every model of a manifest compressed in its own child process, resumably.
//
// Before: a manifest (manifest.h) and OUT, possibly holding an earlier run.
// After:  OUT/models/<id>/{model.onnx[, model.onnx.data], log.txt, result.json} per model and
//         OUT/report.jsonl (OUT/report-IIII-of-NNNN.jsonl when sharded): one JSON line per
//         model, in manifest order, the same object as its result.json.
//
// Each model runs `EXE COMMAND MODEL -o STAGING/model.onnx --report STAGING/report.json ARGS` in its
// own process group, output to log.txt; past its timeout the group gets SIGTERM, then SIGKILL after
// the grace period. The files move from the staging folder into place and result.json is written
// last: it is the "done" marker, removed before a model is run again.
//
// Resume: the cache key is the sha256 of {tool version and build id, command, arguments (a file or
// folder named by an argument counts by its content, not its path; --threads, -v, -q left out),
// model bytes, external data bytes}. A model whose result.json holds the same key is not run again
// when it succeeded, nor when it failed deterministically (exit 1 usage, 2 bad input, 3 unsupported,
// 4 quality gate) unless retry_failed; timeouts, crashes and internal errors (class 5) always rerun.
//
// Exit code: 0 when at most max_failures models failed, else the most actionable class present:
// 5 (timeout, crash, internal) > 1 (a row's arguments) > 2 > 3 > 4.
//
// Known gaps: no shared cache across output folders; no memory-aware admission; a model's
// external data files are the ones its .onnx names (read through `external_data`).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "mcompress/batch/manifest.h"

namespace mcompress::batch {

struct Shard {
  int index = 0;
  int count = 1;
  std::string source = "none";  // none | flags | MCOMPRESS_SHARD_INDEX | slurm | kubernetes
};

struct BatchOptions {
  std::filesystem::path out;
  int jobs = 1;
  int threads_per_job = 0;     // --threads passed to each child unless its args set it; 0: not passed
  double kill_grace_s = 10;    // SIGTERM to SIGKILL
  bool retry_failed = false;
  int max_failures = 0;
  bool progress = true;        // a progress line per finished model on stderr
  bool progress_tty = false;   // rewrite one progress line in place (stderr is a terminal)
  Shard shard;
  std::filesystem::path executable;  // the mcompress binary each child runs
  std::string tool_version;
  std::string build_id;
  // The external data files a model reads (resolved paths); empty when none.
  std::function<std::vector<std::filesystem::path>(const std::filesystem::path&)> external_data;
};

struct BatchSummary {
  int exit_code = 0;
  int ran = 0, cached = 0, ok = 0, failed = 0;
  std::filesystem::path report;
};

// Runs the rows of `options.shard`. Throws a usage error (exit 1) before any model runs when a row's
// arguments hold flags batch sets itself (-o, --report, --json, --force).
BatchSummary run_batch(const Manifest& manifest, const BatchOptions& options);

// The cache key of row `id` and every part it is computed from (--explain).
nlohmann::ordered_json explain_key(const Manifest& manifest, const std::string& id, const BatchOptions& options);

// The rows of shard `index` of `count`, in manifest order. Every shard computes the same plan:
// rows by model bytes, largest first (ties by id), each to the shard with the fewest bytes so far
// (ties to the lowest index). The shards' union is every row, with no overlap.
std::vector<size_t> shard_rows(const Manifest& manifest, int index, int count);

// --shard auto: the first of MCOMPRESS_SHARD_INDEX + MCOMPRESS_SHARD_COUNT; a Slurm job array
// (SLURM_ARRAY_TASK_ID / _MIN / _MAX / _STEP / _COUNT: index (ID - MIN) / STEP of COUNT, refusing list
// arrays like --array=1,2,7 whose IDs do not map onto 0..COUNT-1); a Kubernetes Indexed Job's
// JOB_COMPLETION_INDEX with MCOMPRESS_SHARD_COUNT (required: Kubernetes gives no count). Throws a
// usage error when none is set or the values are inconsistent. `env` reads a variable (null: unset).
Shard resolve_shard_auto(const std::function<const char*(const char*)>& env);

// Exit class of a status: ok/cached 0, usage 1, bad_input 2, unsupported 3, gate_failed 4,
// timeout/crashed/internal 5.
int status_class(const std::string& status);
// The batch exit code for these per-class failure counts (index = class).
int batch_exit_code(const std::vector<int>& failures_by_class, int max_failures);

// Usable CPUs: the affinity mask, capped by cgroup v2 cpu.max (quota / period, rounded up).
int available_cpus();

}  // namespace mcompress::batch
