#pragma once
// `mcompress batch merge`: the shard reports of one manifest joined into one verdict, checked for
// completeness, and rendered for CI (JUnit XML, a Markdown summary).
//
// Before: report*.jsonl files written by `batch` runs (one per shard, or reruns of one).
// After:  one line per manifest id (the last one read wins when an id appears twice); a missing id
//         is exit 5 naming it, so a lost shard cannot pass as green; an id the manifest lacks, or
//         reports of different shard counts, are usage errors (exit 1).
//
// Known gaps: the JUnit file carries no per-model logs (they are in OUT/models/<id>/log.txt).
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mcompress/batch/manifest.h"

namespace mcompress::batch {

struct MergeResult {
  std::vector<nlohmann::ordered_json> rows;  // manifest order, present ids only
  std::vector<std::string> missing;          // manifest ids no report holds
  int ok = 0, failed = 0, cached = 0;
  int exit_code = 0;
};

MergeResult merge_reports(const Manifest& manifest, const std::vector<std::filesystem::path>& reports,
                          int max_failures);

// <testsuites><testsuite name="mcompress.batch"> with one <testcase classname="mcompress.batch" name=ID>
// per manifest id: <failure> for exit classes 1-4, <error> for class 5 and missing ids.
std::string junit_xml(const MergeResult& result);

// Counts, then a table of the models, worst first (failures by class 5, 1, 2, 3, 4, then the lowest
// top-1 agreement, then the largest size ratio); at most `max_rows` rows.
std::string markdown_summary(const MergeResult& result, size_t max_rows = 50);

}  // namespace mcompress::batch
