#pragma once
// The models a batch run compresses: a manifest file (JSON Lines or CSV, one model per row) or a
// folder (every *.onnx under it), with the defaults given after `--` on the command line.
//
// JSONL row: {"id": "resnet50", "path": "vision/resnet50.onnx", "command": "quantize",
//             "args": ["--bits", "8"], "calib": "calib.npy", "eval": "eval.npy",
//             "eval_labels": "labels.npy", "timeout": "30m"}
// CSV: a header naming the same columns; `args` is one cell split at spaces. Only `path` is
// required; `id` defaults to the path without ".onnx". Paths are relative to the manifest's folder.
//
// Known gaps: CSV cells cannot hold an argument with a space in it (use JSONL for that).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace mcompress::batch {

struct ManifestRow {
  std::string id;                 // unique; also the folder name under OUT/models
  std::filesystem::path path;     // the model, resolved against the manifest's folder
  std::string command;            // quantize | prune
  std::vector<std::string> args;  // the defaults, overridden flag by flag by the row's own
  std::optional<double> timeout_s;
  int line = 0;                   // where it came from, for messages
};

struct Defaults {
  std::string command = "quantize";
  std::vector<std::string> args;
  std::optional<double> timeout_s;
  bool require_models = true;  // false: rows whose model is absent are kept (merge only needs the ids)
  std::filesystem::path skip;  // a folder input: this folder (batch's --out) is not part of the zoo
};

struct Manifest {
  std::filesystem::path source;
  std::string sha256;  // of the manifest file; of the sorted id list for a folder
  std::vector<ManifestRow> rows;
};

// The commands a batch may run (each writes one model with -o and a report with --report).
bool is_batch_command(const std::string& command);

// Reads MANIFEST.jsonl, MANIFEST.csv or a folder. Throws a usage error (exit 1) naming the file,
// line and field for anything malformed: unknown fields, duplicate or unsafe ids, missing models,
// unknown commands, bad timeouts.
Manifest load_manifest(const std::filesystem::path& source, const Defaults& defaults);

// "90", "90s", "30m", "1h", "1.5h" -> seconds; throws a usage error naming `what`.
double parse_duration(const std::string& text, const std::string& what);

// `row` flags replace the same flags in `base` (a flag and the values after it form one group).
std::vector<std::string> merge_args(const std::vector<std::string>& base, const std::vector<std::string>& row);

}  // namespace mcompress::batch
