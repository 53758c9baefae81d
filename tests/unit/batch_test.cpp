// The batch module's pieces that need no child process: SHA-256 against sha256sum, manifests
// (JSONL, CSV, folders, errors), argument merging, shard plans and --shard auto, exit codes.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "mcompress/batch/batch.h"
#include "mcompress/batch/manifest.h"
#include "mcompress/support/error.h"
#include "mcompress/support/sha256.h"
#include "support/paths.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;
using batch::Defaults;
using batch::load_manifest;

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

ExitCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return ExitCode::ok;
}

TEST(Sha256, MatchesSha256sum) {
  fs::path dir = temp_dir("sha256");
  std::string big(3 * (1 << 20) + 17, '\0');  // crosses the 1 MiB read size
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  for (const auto& [name, text] : std::map<std::string, std::string>{{"empty", ""}, {"abc", "abc"}, {"big", big}}) {
    write(dir / name, text);
    int64_t bytes = -1;
    EXPECT_EQ(sha256_file(dir / name, &bytes), file_sha256(dir / name)) << name;
    EXPECT_EQ(bytes, static_cast<int64_t>(text.size()));
    EXPECT_EQ(sha256_hex(text), file_sha256(dir / name)) << name;
  }
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // FIPS 180-2
  EXPECT_EQ(code_of([&] { sha256_file(dir / "missing"); }), ExitCode::bad_input);
}

TEST(BatchManifest, JsonlRowsResolveAgainstTheManifestFolder) {
  fs::path dir = temp_dir("manifest_jsonl");
  write(dir / "zoo/a.onnx", "x");
  write(dir / "zoo/sub/b.onnx", "xy");
  write(dir / "zoo/calib.npy", "c");
  write(dir / "zoo/m.jsonl",
        "{\"path\": \"a.onnx\", \"args\": [\"--bits\", \"4\"], \"timeout\": \"2m\"}\n"
        "\n"
        "{\"id\": \"bee\", \"path\": \"sub/b.onnx\", \"command\": \"prune\", \"calib\": \"calib.npy\", \"timeout\": 5}\n");
  Defaults d;
  d.args = {"--bits", "8", "--mode", "weight"};
  auto m = load_manifest(dir / "zoo/m.jsonl", d);
  ASSERT_EQ(m.rows.size(), 2u);
  EXPECT_EQ(m.rows[0].id, "a");
  EXPECT_EQ(m.rows[0].path, dir / "zoo/a.onnx");
  EXPECT_EQ(m.rows[0].command, "quantize");
  EXPECT_EQ(m.rows[0].args, (std::vector<std::string>{"--mode", "weight", "--bits", "4"}));
  EXPECT_EQ(*m.rows[0].timeout_s, 120);
  EXPECT_EQ(m.rows[1].id, "bee");
  EXPECT_EQ(m.rows[1].command, "prune");
  EXPECT_EQ(m.rows[1].args, (std::vector<std::string>{"--bits", "8", "--mode", "weight", "--calib",
                                                      (dir / "zoo/calib.npy").string()}));
  EXPECT_EQ(*m.rows[1].timeout_s, 5);
  EXPECT_EQ(m.sha256, file_sha256(dir / "zoo/m.jsonl"));
}

TEST(BatchManifest, CsvAndFolder) {
  fs::path dir = temp_dir("manifest_csv");
  write(dir / "a.onnx", "x");
  write(dir / "b.onnx", "x");
  write(dir / "m.csv", "id, path ,args,timeout\r\nfirst,a.onnx,--bits 4 --symmetric,\r\n\"sec\"\"nd\",b.onnx,,1h\n"
                       "\"third\",\"b.onnx\",\"--exclude\n(a|b)\",\n");
  EXPECT_EQ(code_of([&] { load_manifest(dir / "m.csv", {}); }), ExitCode::usage);  // sec"nd is no safe id
  write(dir / "m.csv", "id, path ,args,timeout\r\nfirst,a.onnx,--bits 4 --symmetric,\r\nsecond,b.onnx,,1h\n"
                       "\"third\",\"b.onnx\",\"--exclude\n(a|b)\",\n");
  auto m = load_manifest(dir / "m.csv", {});
  ASSERT_EQ(m.rows.size(), 3u);
  EXPECT_EQ(m.rows[0].args, (std::vector<std::string>{"--bits", "4", "--symmetric"}));
  EXPECT_FALSE(m.rows[0].timeout_s);
  EXPECT_EQ(m.rows[1].id, "second");
  EXPECT_EQ(*m.rows[1].timeout_s, 3600);
  EXPECT_EQ(m.rows[2].args, (std::vector<std::string>{"--exclude", "(a|b)"}));  // a quoted cell spans lines
}

TEST(BatchManifest, FolderIsEveryOnnxFileSorted) {
  fs::path dir = temp_dir("manifest_dir");
  write(dir / "z.onnx", "x");
  write(dir / "a/b.onnx", "x");
  write(dir / "notes.txt", "x");
  write(dir / ".hidden/c.onnx", "x");
  auto m = load_manifest(dir, {});
  ASSERT_EQ(m.rows.size(), 2u);
  EXPECT_EQ(m.rows[0].id, "a/b");
  EXPECT_EQ(m.rows[1].id, "z");
}

TEST(BatchManifest, MalformedManifestsAreUsageErrors) {
  fs::path dir = temp_dir("manifest_bad");
  write(dir / "a.onnx", "x");
  std::vector<std::pair<std::string, std::string>> cases = {
      {"bad.jsonl", "{\"path\": \"a.onnx\", \"sparsity\": 0.5}\n"},              // unknown field
      {"dup.jsonl", "{\"path\": \"a.onnx\"}\n{\"path\": \"a.onnx\"}\n"},         // duplicate id
      {"miss.jsonl", "{\"path\": \"nope.onnx\"}\n"},                             // missing model
      {"cmd.jsonl", "{\"path\": \"a.onnx\", \"command\": \"inspect\"}\n"},       // not a compressing command
      {"id.jsonl", "{\"path\": \"a.onnx\", \"id\": \"../up\"}\n"},               // unsafe id
      {"time.jsonl", "{\"path\": \"a.onnx\", \"timeout\": \"soon\"}\n"},         // bad duration
      {"json.jsonl", "{\"path\": \n"},                                           // not JSON
      {"empty.jsonl", ""},                                                       // no models
      {"cells.csv", "path,id\na.onnx\n"},                                        // short row
      {"col.csv", "path,model\na.onnx,x\n"},                                     // unknown column
      {"m.txt", "a.onnx\n"}};                                                    // unknown format
  for (const auto& [name, text] : cases) {
    write(dir / name, text);
    EXPECT_EQ(code_of([&] { load_manifest(dir / name, {}); }), ExitCode::usage) << name;
  }
}

TEST(BatchManifest, RowFlagsReplaceDefaultFlags) {
  using batch::merge_args;
  EXPECT_EQ(merge_args({"--bits", "8", "--exclude", "a", "--exclude", "b", "--symmetric"}, {"--exclude", "c"}),
            (std::vector<std::string>{"--bits", "8", "--symmetric", "--exclude", "c"}));
  EXPECT_EQ(merge_args({"--percentile", "-1.5", "--bits=8"}, {"--bits=4"}),
            (std::vector<std::string>{"--percentile", "-1.5", "--bits=4"}));
}

TEST(BatchShards, UnionIsTheManifestAndSizesBalance) {
  fs::path dir = temp_dir("shards");
  std::string jsonl;
  for (int i = 0; i < 23; ++i) {
    std::string name = fmt::format("m{}.onnx", i);
    write(dir / name, std::string(static_cast<size_t>(100 + 37 * ((i * 7) % 23)), 'x'));
    jsonl += fmt::format("{{\"path\": \"{}\"}}\n", name);
  }
  write(dir / "m.jsonl", jsonl);
  auto m = load_manifest(dir / "m.jsonl", {});
  for (int count : {1, 2, 4, 23, 30}) {
    std::multiset<size_t> all;
    std::vector<int64_t> bytes;
    for (int i = 0; i < count; ++i) {
      auto rows = batch::shard_rows(m, i, count);
      EXPECT_TRUE(std::is_sorted(rows.begin(), rows.end()));
      int64_t b = 0;
      for (size_t r : rows) b += static_cast<int64_t>(fs::file_size(m.rows[r].path)), all.insert(r);
      bytes.push_back(b);
    }
    EXPECT_EQ(all.size(), m.rows.size()) << count;
    EXPECT_EQ(std::set<size_t>(all.begin(), all.end()).size(), m.rows.size()) << count;
    if (count == 4) {
      EXPECT_LT(*std::max_element(bytes.begin(), bytes.end()) - *std::min_element(bytes.begin(), bytes.end()), 1000);
    }
  }
  EXPECT_EQ(code_of([&] { batch::shard_rows(m, 4, 4); }), ExitCode::usage);
}

TEST(BatchShards, AutoReadsSlurmKubernetesAndOurOwnVariables) {
  auto resolve = [](std::map<std::string, std::string> env) {
    return batch::resolve_shard_auto([env](const char* name) -> const char* {
      auto it = env.find(name);
      return it == env.end() ? nullptr : it->second.c_str();
    });
  };
  auto s = resolve({{"MCOMPRESS_SHARD_INDEX", "2"}, {"MCOMPRESS_SHARD_COUNT", "5"}, {"SLURM_ARRAY_TASK_ID", "0"}});
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 5);
  EXPECT_EQ(s.source, "MCOMPRESS_SHARD_INDEX");
  // --array=10-16:2 -> IDs 10, 12, 14, 16
  s = resolve({{"SLURM_ARRAY_TASK_ID", "14"}, {"SLURM_ARRAY_TASK_MIN", "10"}, {"SLURM_ARRAY_TASK_MAX", "16"},
               {"SLURM_ARRAY_TASK_STEP", "2"}, {"SLURM_ARRAY_TASK_COUNT", "4"}});
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 4);
  EXPECT_EQ(s.source, "slurm");
  s = resolve({{"JOB_COMPLETION_INDEX", "3"}, {"MCOMPRESS_SHARD_COUNT", "4"}});
  EXPECT_EQ(s.index, 3);
  EXPECT_EQ(s.source, "kubernetes");
  auto refused = [&](std::map<std::string, std::string> env) {
    return code_of([&] { resolve(env); });
  };
  // --array=1,2,7: MIN=1 MAX=7 STEP=1 COUNT=3
  EXPECT_EQ(refused({{"SLURM_ARRAY_TASK_ID", "7"}, {"SLURM_ARRAY_TASK_MIN", "1"}, {"SLURM_ARRAY_TASK_MAX", "7"},
                     {"SLURM_ARRAY_TASK_STEP", "1"}, {"SLURM_ARRAY_TASK_COUNT", "3"}}),
            ExitCode::usage);
  EXPECT_EQ(refused({{"JOB_COMPLETION_INDEX", "3"}}), ExitCode::usage);  // no count
  EXPECT_EQ(refused({{"JOB_COMPLETION_INDEX", "4"}, {"MCOMPRESS_SHARD_COUNT", "4"}}), ExitCode::usage);
  EXPECT_EQ(refused({{"MCOMPRESS_SHARD_INDEX", "x"}, {"MCOMPRESS_SHARD_COUNT", "4"}}), ExitCode::usage);
  EXPECT_EQ(refused({}), ExitCode::usage);
}

TEST(BatchExit, MostActionableClassWins) {
  using batch::batch_exit_code;
  EXPECT_EQ(batch_exit_code({0, 0, 0, 0, 0, 0}, 0), 0);
  EXPECT_EQ(batch_exit_code({0, 0, 1, 1, 1, 0}, 0), 2);
  EXPECT_EQ(batch_exit_code({0, 0, 0, 1, 1, 0}, 0), 3);
  EXPECT_EQ(batch_exit_code({0, 0, 0, 0, 2, 0}, 0), 4);
  EXPECT_EQ(batch_exit_code({0, 1, 1, 0, 0, 1}, 0), 5);
  EXPECT_EQ(batch_exit_code({0, 1, 1, 0, 0, 0}, 0), 1);
  EXPECT_EQ(batch_exit_code({0, 0, 1, 1, 0, 0}, 2), 0);  // --max-failures 2
  EXPECT_EQ(batch::status_class("timeout"), 5);
  EXPECT_EQ(batch::status_class("crashed"), 5);
  EXPECT_EQ(batch::status_class("gate_failed"), 4);
}

TEST(BatchCpus, AutoCountsTheAffinityMask) {
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  EXPECT_GE(batch::available_cpus(), 1);
  EXPECT_LE(batch::available_cpus(), CPU_COUNT(&set));
}

}  // namespace
}  // namespace mcompress::test
