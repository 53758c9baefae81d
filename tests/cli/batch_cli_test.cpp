// mcompress batch end to end on a generated zoo (tests/cli/make_zoo.py): one child per model,
// failures that cost only their model, resume by content, shards whose union is the single run.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "mcompress/data/arrays.h"
#include "mcompress/report/fidelity.h"
#include "support/oracle.h"
#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// A zoo of `count` MLPs (and the malformed / unsupported / hanging extras) in a fresh folder.
fs::path make_zoo(const std::string& name, int count, bool extras) {
  fs::path dir = temp_dir(name);
  std::vector<std::string> argv = {python(), (source_dir() / "tests/cli/make_zoo.py").string(), dir.string(),
                                   "--count", std::to_string(count)};
  if (extras) argv.push_back("--extras");
  auto r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return dir;
}

// A JSONL manifest of every MLP in `zoo` (and, with `extras`, the extra models with their own rows).
fs::path write_manifest(const fs::path& zoo, int count, bool extras) {
  fs::path m = zoo / "zoo.jsonl";
  std::ofstream out(m);
  for (int k = 0; k < count; ++k)
    out << R"({"id": "mlp_00)" << k << R"(", "path": "mlp_00)" << k << R"(.onnx"})" << "\n";
  if (extras) {
    out << R"({"id": "malformed", "path": "extra/malformed.onnx"})" << "\n";
    out << R"({"id": "unsupported", "path": "extra/unsupported.onnx", "eval": "eval.npy", "args": ["--min-sqnr", "0"]})"
        << "\n";
    out << R"({"id": "hang", "path": "extra/hang.onnx", "eval": "eval.npy", "args": ["--min-sqnr", "0"], "timeout": "1s"})"
        << "\n";
    out << R"({"id": "strict", "path": "mlp_000.onnx", "eval": "eval.npy", "args": ["--min-sqnr", "200"]})" << "\n";
  }
  return m;
}

std::map<std::string, Json> read_report(const fs::path& path) {
  std::map<std::string, Json> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    Json j = Json::parse(line);
    EXPECT_FALSE(rows.count(j["id"])) << "duplicate " << j["id"];
    rows[j["id"]] = j;
  }
  return rows;
}

RunResult batch(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"batch"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_mcompress(argv);
}

// `mcompress batch ARGS` started in the background (stderr dropped); returns its pid.
pid_t start_batch(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {mcompress_binary().string(), "batch"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int null_fd = open("/dev/null", O_WRONLY);
    dup2(null_fd, 2);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  return pid;
}

TEST(BatchCli, FailuresCostOnlyTheirModelAndResumeSkipsWhatIsDone) {
  fs::path zoo = make_zoo("batch_zoo", 4, true);
  fs::path manifest = write_manifest(zoo, 4, true);
  fs::path out = zoo / "out";
  auto t0 = std::chrono::steady_clock::now();
  auto r = batch({manifest.string(), "--out", out.string(), "-j", "2", "--", "quantize", "--bits", "8"});
  double first_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, 5) << r.err;  // a timeout is class 5, the most actionable
  auto rows = read_report(out / "report.jsonl");
  ASSERT_EQ(rows.size(), 8u);
  for (int k = 0; k < 4; ++k) {
    std::string id = "mlp_00" + std::to_string(k);
    const Json& j = rows[id];
    EXPECT_EQ(j["status"], "ok") << j.dump();
    EXPECT_EQ(j["exit_code"], 0);
    EXPECT_EQ(j["cache"]["hit"], false);
    fs::path model = out / "models" / id / "model.onnx";
    ASSERT_TRUE(fs::exists(model));
    EXPECT_EQ(j["output"]["sha256"], file_sha256(model));
    EXPECT_EQ(j["input"]["sha256"], file_sha256(zoo / (id + ".onnx")));
    EXPECT_EQ(j["output"]["path"], "models/" + id + "/model.onnx");
    EXPECT_GT(j["peak_rss_bytes"].get<int64_t>(), 1 << 20);
    EXPECT_EQ(Json::parse(read_text(out / "models" / id / "result.json")), j);
    EXPECT_TRUE(fs::exists(out / "models" / id / "log.txt"));
  }
  EXPECT_EQ(rows["malformed"]["status"], "bad_input");
  EXPECT_EQ(rows["malformed"]["exit_code"], 2);
  EXPECT_NE(rows["malformed"]["error"].get<std::string>().find("malformed.onnx"), std::string::npos);
  EXPECT_EQ(rows["unsupported"]["status"], "unsupported") << rows["unsupported"].dump();
  EXPECT_EQ(rows["unsupported"]["exit_code"], 3);
  EXPECT_EQ(rows["hang"]["status"], "timeout");
  EXPECT_EQ(rows["hang"]["signal"], "SIGTERM");
  EXPECT_TRUE(rows["hang"]["exit_code"].is_null());
  EXPECT_FALSE(fs::exists(out / "models/hang/model.onnx"));
  EXPECT_EQ(rows["strict"]["status"], "gate_failed");
  EXPECT_EQ(rows["strict"]["exit_code"], 4);
  EXPECT_EQ(rows["strict"]["gate"]["checks"][0]["limit"], 200.0);
  EXPECT_FALSE(fs::exists(out / "models/strict/model.onnx"));
  EXPECT_GT(rows["strict"]["metrics"]["top1_agreement"].get<double>(), 0.5);
  for (const char* id : {"malformed", "unsupported", "hang", "strict"})
    EXPECT_FALSE(fs::exists(out / "models" / id / "model.onnx")) << id;
  // No staging folder is left anywhere.
  for (const auto& e : fs::recursive_directory_iterator(out))
    EXPECT_FALSE(e.path().filename().string().starts_with(".")) << e.path();

  // One emitted model runs in ONNX Runtime close to its original (int8 weights).
  fs::create_directories(zoo / "ort");
  fs::path inputs = make_inputs("x:float32:5,8", zoo / "ort");
  fs::path a = ort_outputs(zoo / "mlp_001.onnx", inputs, zoo / "ort" / "a.npz");
  fs::path b = ort_outputs(out / "models/mlp_001/model.onnx", inputs, zoo / "ort" / "b.npz");
  ASSERT_TRUE(fs::exists(a) && fs::exists(b));
  report::OutputFidelity fidelity;
  fidelity.add(data::read_npz(a).at(0).second, data::read_npz(b).at(0).second);
  EXPECT_GT(fidelity.cosine(), 0.999);

  // Second run: everything deterministic is reused, only the timed-out model runs again.
  r = batch({manifest.string(), "--out", out.string(), "-j", "2", "--", "quantize", "--bits", "8"});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  auto again = read_report(out / "report.jsonl");
  for (const auto& [id, j] : again) {
    bool rerun = id == "hang";
    EXPECT_EQ(j["cache"]["hit"], !rerun) << id;
    EXPECT_EQ(j["status"], rows[id]["status"]) << id;
  }
  // --retry-failed also reruns the deterministic failures; a changed default reruns the rest.
  r = batch({manifest.string(), "--out", out.string(), "-j", "2", "--retry-failed", "--", "quantize", "--bits", "8"});
  again = read_report(out / "report.jsonl");
  EXPECT_EQ(again["malformed"]["cache"]["hit"], false);
  EXPECT_EQ(again["strict"]["cache"]["hit"], false);
  EXPECT_EQ(again["mlp_000"]["cache"]["hit"], true);
  r = batch({manifest.string(), "--out", out.string(), "-j", "2", "--", "quantize", "--bits", "8", "--symmetric"});
  again = read_report(out / "report.jsonl");
  EXPECT_EQ(again["mlp_000"]["cache"]["hit"], false);
  EXPECT_NE(again["mlp_000"]["cache"]["key"], rows["mlp_000"]["cache"]["key"]);
  EXPECT_EQ(again["malformed"]["cache"]["hit"], false);  // its arguments changed too
  RecordProperty("first_run_s", std::to_string(first_s));
}

TEST(BatchCli, KilledRunResumedDoesOnlyTheRest) {
  const int count = 8;
  fs::path zoo = make_zoo("batch_kill", count, false);
  fs::path out = zoo / "out";
  // Start a -j 1 run, SIGKILL it once three models are done.
  pid_t pid = start_batch({zoo.string(), "--out", out.string(), "-j", "1"});
  ASSERT_GE(pid, 0);
  auto done = [&] {
    int n = 0;
    std::error_code ec;
    for (int k = 0; k < count; ++k)
      n += fs::exists(out / "models" / ("mlp_00" + std::to_string(k)) / "result.json", ec);
    return n;
  };
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (done() < 3 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // its child dies with it (PR_SET_PDEATHSIG)
  int finished = done();
  ASSERT_GE(finished, 3);
  ASSERT_LT(finished, count) << "the run finished before it was killed";
  EXPECT_FALSE(fs::exists(out / "report.jsonl"));

  auto r = batch({zoo.string(), "--out", out.string(), "-j", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rows = read_report(out / "report.jsonl");
  ASSERT_EQ(rows.size(), static_cast<size_t>(count));
  int hits = 0;
  for (const auto& [id, j] : rows) {
    EXPECT_EQ(j["status"], "ok") << id;
    hits += j["cache"]["hit"].get<bool>();
  }
  EXPECT_EQ(hits, finished);
  for (const auto& e : fs::recursive_directory_iterator(out))
    EXPECT_FALSE(e.path().filename().string().starts_with(".")) << e.path();
}

// A child that dies of a signal (here SIGSEGV sent to the hanging model's process) is "crashed",
// exit class 5, and the other models finish.
TEST(BatchCli, CrashedChildIsReportedAndCostsOnlyItself) {
  fs::path zoo = make_zoo("batch_crash", 2, true);
  fs::path manifest = zoo / "crash.jsonl";
  std::ofstream(manifest) << R"({"id": "a", "path": "mlp_000.onnx"})" << "\n"
                          << R"({"id": "hang", "path": "extra/hang.onnx", "eval": "eval.npy", "args": ["--min-sqnr", "0"]})"
                          << "\n" << R"({"id": "b", "path": "mlp_001.onnx"})" << "\n";
  fs::path out = zoo / "out";
  pid_t pid = start_batch({manifest.string(), "--out", out.string(), "-j", "3"});
  ASSERT_GE(pid, 0);
  // The hanging child: the batch's child whose command line names hang.onnx.
  pid_t victim = -1;
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (victim < 0 && std::chrono::steady_clock::now() < give_up) {
    std::ifstream children("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
    pid_t child;
    while (children >> child) {
      std::string cmdline = read_text("/proc/" + std::to_string(child) + "/cmdline");
      if (cmdline.find("hang.onnx") != std::string::npos) victim = child;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GT(victim, 0) << "the hanging child never started";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // well inside its endless Loop
  kill(victim, SIGSEGV);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 5);
  auto rows = read_report(out / "report.jsonl");
  EXPECT_EQ(rows["hang"]["status"], "crashed");
  EXPECT_EQ(rows["hang"]["signal"], "SIGSEGV");
  EXPECT_EQ(rows["hang"]["error"], "killed by SIGSEGV");
  EXPECT_TRUE(rows["hang"]["cache"]["key"].is_null());  // class 5 is never reused
  EXPECT_EQ(rows["a"]["status"], "ok");
  EXPECT_EQ(rows["b"]["status"], "ok");
}

// Lines of a report keyed by id, without what differs between runs (times, memory, shard).
std::map<std::string, std::string> stable(const std::map<std::string, Json>& rows) {
  std::map<std::string, std::string> out;
  for (auto [id, j] : rows) {
    for (const char* k : {"time_s", "peak_rss_bytes", "shard"}) j.erase(k);
    out[id] = j.dump();
  }
  return out;
}

TEST(BatchCli, FourShardsEqualOneRun) {
  fs::path zoo = make_zoo("batch_shards", 7, false);
  fs::path outs = temp_dir("batch_shards_out");  // outside the zoo folder, which is the manifest
  fs::path single = outs / "single", sharded = outs / "sharded";
  auto r = batch({zoo.string(), "--out", single.string(), "-j", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Four shard processes at once into one output folder, as a CI matrix or job array would.
  std::vector<pid_t> pids;
  for (int i = 0; i < 4; ++i)
    pids.push_back(start_batch({zoo.string(), "--out", sharded.string(), "--shard-index", std::to_string(i),
                                "--shard-count", "4"}));
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto one = read_report(single / "report.jsonl");
  std::map<std::string, Json> joined;
  for (int i = 0; i < 4; ++i) {
    auto part = read_report(sharded / ("report-000" + std::to_string(i) + "-of-0004.jsonl"));
    EXPECT_FALSE(part.empty()) << "shard " << i;
    for (auto& [id, j] : part) {
      EXPECT_FALSE(joined.count(id)) << id << " in two shards";
      EXPECT_EQ(j["shard"]["index"], i);
      EXPECT_EQ(j["shard"]["source"], "flags");
      joined[id] = j;
    }
  }
  EXPECT_EQ(stable(joined), stable(one));
  for (const auto& [id, j] : one)
    EXPECT_EQ(file_sha256(single / "models" / id / "model.onnx"), file_sha256(sharded / "models" / id / "model.onnx"))
        << id;

  // --shard auto from a Kubernetes Indexed Job's variables; the index alone is refused.
  setenv("JOB_COMPLETION_INDEX", "1", 1);
  r = batch({zoo.string(), "--out", (outs / "k8s").string(), "--shard", "auto"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("MCOMPRESS_SHARD_COUNT"), std::string::npos) << r.err;
  setenv("MCOMPRESS_SHARD_COUNT", "4", 1);
  r = batch({zoo.string(), "--out", (outs / "k8s").string(), "--shard", "auto"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("kubernetes"), std::string::npos) << r.err;
  auto k8s = read_report(outs / "k8s" / "report-0001-of-0004.jsonl");
  EXPECT_EQ(stable(k8s), stable(read_report(sharded / "report-0001-of-0004.jsonl")));
  // Without --shard auto no variable is read: the whole manifest runs.
  r = batch({zoo.string(), "--out", (outs / "all").string()});
  EXPECT_EQ(read_report(outs / "all" / "report.jsonl").size(), 7u);
  unsetenv("JOB_COMPLETION_INDEX");
  unsetenv("MCOMPRESS_SHARD_COUNT");
}

TEST(BatchCli, ExplainAndUsageErrors) {
  fs::path zoo = make_zoo("batch_usage", 2, false);
  auto r = batch({zoo.string(), "--out", (zoo / "o").string(), "--explain", "mlp_001", "--", "quantize", "--bits", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = Json::parse(r.out);
  EXPECT_EQ(j["parts"]["model"]["sha256"], file_sha256(zoo / "mlp_001.onnx"));
  EXPECT_EQ(j["parts"]["args"], Json::parse(R"(["--bits", "4"])"));
  EXPECT_EQ(j["parts"]["command"], "quantize");
  EXPECT_EQ(j["key"].get<std::string>().size(), 64u);
  EXPECT_FALSE(fs::exists(zoo / "o"));
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--explain", "nope"},
           {"-j", "0"},
           {"--timeout", "soon"},
           {"--shard-index", "4", "--shard-count", "4"},
           {"--shard-index", "1"},
           {"--shard", "slurm"},
           {"--", "inspect"},
           {"--", "quantize", "-o", "x.onnx"}}) {
    std::vector<std::string> argv = {zoo.string(), "--out", (zoo / "o").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    EXPECT_EQ(batch(argv).exit_code, 1) << args[0] << " " << args.back();
  }
  EXPECT_FALSE(fs::exists(zoo / "o" / "report.jsonl"));
}

// tools/recipes (Slurm, Kubernetes, GitHub Actions, GNU parallel), each run without its engine by
// tests/cli/check_recipes.py: its shards' union must equal a single run byte for byte.
TEST(BatchCli, RecipesWorkWithoutTheirEngines) {
  fs::path work = temp_dir("batch_recipes");
  auto r = run({python(), (source_dir() / "tests/cli/check_recipes.py").string(), mcompress_binary().string(),
                work.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("all recipes ok"), std::string::npos) << r.out;
}

// merge: a lost shard is exit 5 naming its models; JUnit and Markdown rank failures first.
TEST(BatchCli, MergeChecksCompletenessAndRendersReports) {
  fs::path zoo = make_zoo("batch_merge", 3, true);
  fs::path manifest = write_manifest(zoo, 3, true);
  fs::path out = zoo / "out";
  for (int i = 0; i < 2; ++i)
    batch({manifest.string(), "--out", out.string(), "--shard-index", std::to_string(i), "--shard-count", "2", "-q"});
  auto shard0 = read_report(out / "report-0000-of-0002.jsonl");
  auto shard1 = read_report(out / "report-0001-of-0002.jsonl");
  EXPECT_EQ(shard0.size() + shard1.size(), 7u);
  auto r = run_mcompress({"batch", "merge", (out / "report-0000-of-0002.jsonl").string(), "--manifest",
                          manifest.string()});
  EXPECT_EQ(r.exit_code, 5);
  for (const auto& [id, j] : shard1) EXPECT_NE(r.err.find(id), std::string::npos) << id << " not named: " << r.err;
  fs::path junit = zoo / "junit.xml", md = zoo / "summary.md";
  r = run_mcompress({"batch", "merge", (out / "report-0000-of-0002.jsonl").string(),
                     (out / "report-0001-of-0002.jsonl").string(), "--manifest", manifest.string(), "--junit",
                     junit.string(), "--summary-md", md.string()});
  EXPECT_EQ(r.exit_code, 5) << r.err;  // the timed-out model
  std::string xml = read_text(junit);
  EXPECT_NE(xml.find("<testsuite name=\"mcompress.batch\" tests=\"7\" failures=\"3\" errors=\"1\""),
            std::string::npos) << xml;
  EXPECT_NE(xml.find("<testcase classname=\"mcompress.batch\" name=\"mlp_001\""), std::string::npos);
  EXPECT_NE(xml.find("<error type=\"timeout\""), std::string::npos);
  EXPECT_NE(xml.find("<failure type=\"bad_input\""), std::string::npos);
  std::string text = read_text(md);
  EXPECT_NE(text.find("7 models: **3 ok**, **4 failed**"), std::string::npos) << text;
  EXPECT_LT(text.find("| hang | timeout"), text.find("| malformed | bad_input"));
  EXPECT_LT(text.find("| malformed | bad_input"), text.find("| unsupported | unsupported"));
  EXPECT_LT(text.find("| unsupported | unsupported"), text.find("| strict | gate_failed"));
  EXPECT_LT(text.find("| strict | gate_failed"), text.find("| mlp_000 | ok"));
  // --max-failures 4 accepts the four failures; an id the manifest lacks is refused.
  r = run_mcompress({"batch", "merge", (out / "report-0000-of-0002.jsonl").string(),
                     (out / "report-0001-of-0002.jsonl").string(), "--manifest", manifest.string(), "--max-failures",
                     "4"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  fs::path other = zoo / "other.jsonl";
  std::ofstream(other) << R"({"id": "mlp_000", "path": "mlp_000.onnx"})" << "\n";
  r = run_mcompress({"batch", "merge", (out / "report-0000-of-0002.jsonl").string(),
                     (out / "report-0001-of-0002.jsonl").string(), "--manifest", other.string()});
  EXPECT_EQ(r.exit_code, 1);
}

}  // namespace
}  // namespace mcompress::test
