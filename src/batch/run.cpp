#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "mcompress/batch/batch.h"
#include "mcompress/support/error.h"
#include "mcompress/support/file_io.h"
#include "mcompress/support/sha256.h"

namespace mcompress::batch {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kSchema = "mcompress.batch/1";

// Flags batch sets for every child, refused in a row's arguments.
const std::set<std::string> kReserved = {"-o", "--output", "--report", "--json", "--force"};
// Flags that do not change what a child writes, left out of the cache key.
const std::set<std::string> kNotInKey = {"--threads", "-v", "--verbose", "-q", "--quiet"};

bool is_flag(const std::string& t) {
  return t.size() > 1 && t[0] == '-' && !(std::isdigit(static_cast<unsigned char>(t[1])) || t[1] == '.');
}
std::string flag_name(const std::string& t) { return t.substr(0, t.find('=')); }

// A folder argument (a .pb sample folder) counts by the names and bytes of the files in it.
std::string folder_sha256(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::string listing;
  for (const auto& f : files) listing += fs::relative(f, dir).generic_string() + " " + sha256_file(f) + "\n";
  return sha256_hex(listing);
}

struct Key {
  Json parts;
  std::string key;
  std::string model_sha;
  int64_t model_bytes = 0;
};

Key compute_key(const ManifestRow& row, const BatchOptions& options) {
  Key k;
  k.model_sha = sha256_file(row.path, &k.model_bytes);
  Json args = Json::array();
  bool skip_values = false;
  for (const auto& a : row.args) {
    if (is_flag(a)) skip_values = kNotInKey.count(flag_name(a)) > 0;
    if (skip_values) continue;
    std::error_code ec;
    if (!is_flag(a) && fs::is_regular_file(a, ec)) args.push_back("file:sha256:" + sha256_file(a));
    else if (!is_flag(a) && fs::is_directory(a, ec)) args.push_back("folder:sha256:" + folder_sha256(a));
    else args.push_back(a);
  }
  Json external = Json::array();
  if (options.external_data)
    for (const auto& f : options.external_data(row.path))
      external.push_back({{"name", fs::relative(f, row.path.parent_path()).generic_string()}, {"sha256", sha256_file(f)}});
  k.parts = {{"schema", kSchema},
             {"tool", {{"version", options.tool_version}, {"build", options.build_id}}},
             {"command", row.command},
             {"args", args},
             {"model", {{"sha256", k.model_sha}, {"bytes", k.model_bytes}}},
             {"external_data", external}};
  k.key = sha256_hex(k.parts.dump());
  return k;
}

std::string signal_name(int sig) {
  switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGKILL: return "SIGKILL";
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    default: return "SIG" + std::to_string(sig);
  }
}

std::string status_of_exit(int code) {
  switch (code) {
    case 0: return "ok";
    case 1: return "usage";
    case 2: return "bad_input";
    case 3: return "unsupported";
    case 4: return "gate_failed";
    default: return "internal";
  }
}

bool deterministic(const std::string& status) {
  int c = status_class(status);
  return c >= 1 && c <= 4;
}

// The child's own message: the last "error: ..." or "internal error: ..." line of its log.
Json last_error(const fs::path& log) {
  std::ifstream in(log);
  std::string line, found;
  while (std::getline(in, line))
    if (line.starts_with("error: ") || line.starts_with("internal error: ")) found = line;
  if (found.empty()) return nullptr;
  return found.substr(found.find(": ") + 2);
}

void write_json_file(const fs::path& path, const Json& j) {
  std::string text = j.dump() + "\n";
  AtomicFile f(path);
  f.write(text.data(), text.size());
  f.commit();
}

std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

struct Running {
  pid_t pid = -1;
  size_t row = 0;
  Key key;
  fs::path dir, staging;
  Clock::time_point start, deadline, kill_at;
  bool has_deadline = false, term_sent = false, timed_out = false;
};

std::string fmt_eta(double s) {
  if (s < 60) return fmt::format("{:.0f}s", s);
  if (s < 3600) return fmt::format("{:.0f}m{:02.0f}s", std::floor(s / 60), std::fmod(s, 60));
  return fmt::format("{:.0f}h{:02.0f}m", std::floor(s / 3600), std::floor(std::fmod(s, 3600) / 60));
}

class Runner {
 public:
  Runner(const Manifest& m, const BatchOptions& o) : manifest_(m), options_(o) {}

  BatchSummary run() {
    for (const auto& row : manifest_.rows)
      for (const auto& a : row.args)
        if (is_flag(a) && kReserved.count(flag_name(a)))
          throw_usage("{}:{}: '{}' is set by batch itself; leave it out of the arguments", manifest_.source.string(),
                      row.line, a);
    rows_ = shard_rows(manifest_, options_.shard.index, options_.shard.count);
    fs::create_directories(options_.out / "models");
    results_.assign(manifest_.rows.size(), Json());
    started_ = Clock::now();

    // The batch's own SIGINT / SIGTERM / SIGHUP stop the children first.
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    struct sigaction old_int {}, old_term {}, old_hup {};
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);

    std::vector<std::pair<size_t, Key>> todo;
    for (size_t r : rows_) {
      Key key = compute_key(manifest_.rows[r], options_);
      if (auto done = cached(r, key)) {
        results_[r] = std::move(*done);
        ++summary_.cached;
        count_result(results_[r]);
      } else {
        todo.emplace_back(r, std::move(key));
      }
    }
    total_ = rows_.size();
    size_t next = 0;
    while (next < todo.size() || !running_.empty()) {
      if (g_stop_signal) break;
      while (running_.size() < static_cast<size_t>(std::max(1, options_.jobs)) && next < todo.size()) {
        start(todo[next].first, std::move(todo[next].second));
        ++next;
      }
      if (!reap_one()) {
        enforce_timeouts();
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
    if (int sig = g_stop_signal.load()) stop_all(sig, old_int, old_term, old_hup);
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    sigaction(SIGHUP, &old_hup, nullptr);
    if (options_.progress && options_.progress_tty) std::cerr << "\n";

    std::string text;
    for (size_t r : rows_) text += results_[r].dump() + "\n";
    // report.jsonl for an unsharded run; a shard's name says which it is, even shard 0 of 1.
    fs::path report = options_.shard.source == "none"
                          ? options_.out / "report.jsonl"
                          : options_.out / fmt::format("report-{:04d}-of-{:04d}.jsonl", options_.shard.index,
                                                       options_.shard.count);
    AtomicFile f(report);
    f.write(text.data(), text.size());
    f.commit();
    summary_.report = report;
    summary_.exit_code = batch_exit_code(failures_, options_.max_failures);
    return summary_;
  }

 private:
  fs::path model_dir(size_t r) const { return options_.out / "models" / manifest_.rows[r].id; }

  std::optional<Json> cached(size_t r, const Key& key) {
    fs::path result = model_dir(r) / "result.json";
    std::error_code ec;
    if (!fs::exists(result, ec)) return std::nullopt;
    Json j;
    try {
      j = Json::parse(read_file(result));
    } catch (const std::exception&) {
      return std::nullopt;
    }
    // Class 5 results carry no key (null): never reused.
    if (!j.is_object() || !j.contains("cache") || !j["cache"].contains("key") || !j["cache"]["key"].is_string() ||
        j["cache"]["key"].get<std::string>() != key.key)
      return std::nullopt;
    std::string status = j.value("status", "");
    bool reuse = status == "ok" || (deterministic(status) && !options_.retry_failed);
    if (!reuse) return std::nullopt;
    if (status == "ok" && !fs::exists(model_dir(r) / "model.onnx", ec)) return std::nullopt;
    j["cache"]["hit"] = true;
    j["shard"] = shard_json();
    return j;
  }

  Json shard_json() const {
    return {{"index", options_.shard.index}, {"count", options_.shard.count}, {"source", options_.shard.source}};
  }

  void start(size_t r, Key key) {
    const ManifestRow& row = manifest_.rows[r];
    Running c;
    c.row = r;
    c.key = std::move(key);
    c.dir = model_dir(r);
    fs::create_directories(c.dir);
    std::error_code ec;
    fs::remove(c.dir / "result.json", ec);  // no stale marker while it runs
    for (const auto& e : fs::directory_iterator(c.dir))  // staging folders of an interrupted run
      if (e.path().filename().string().starts_with(".run-")) fs::remove_all(e.path(), ec);
    c.staging = c.dir / fmt::format(".run-{}", ::getpid());
    fs::create_directories(c.staging);

    std::vector<std::string> argv = {options_.executable.string(), row.command, fs::absolute(row.path).string(),
                                     "-o", (c.staging / "model.onnx").string(), "--report",
                                     (c.staging / "report.json").string()};
    bool has_threads = false;
    for (const auto& a : row.args) has_threads |= is_flag(a) && flag_name(a) == "--threads";
    if (!has_threads && options_.threads_per_job > 0) {
      argv.push_back("--threads");
      argv.push_back(std::to_string(options_.threads_per_job));
    }
    argv.insert(argv.end(), row.args.begin(), row.args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    std::string log = (c.staging / "log.txt").string();
    int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) throw_bad_input("{}: cannot create: {}", log, std::strerror(errno));
    pid_t parent = ::getpid();
    c.start = Clock::now();
    pid_t pid = ::fork();
    if (pid < 0) throw Error(ExitCode::internal, fmt::format("fork failed: {}", std::strerror(errno)));
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec.
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a killed batch takes its children along
      if (::getppid() != parent) ::_exit(127);
      int null_fd = ::open("/dev/null", O_RDONLY);
      if (null_fd >= 0) ::dup2(null_fd, 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      ::sigaction(SIGINT, &dfl, nullptr);
      ::sigaction(SIGTERM, &dfl, nullptr);
      ::sigaction(SIGHUP, &dfl, nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    ::setpgid(pid, pid);  // also here, so that a kill right after fork finds the group
    ::close(log_fd);
    c.pid = pid;
    std::optional<double> timeout = row.timeout_s;
    if (timeout) {
      c.has_deadline = true;
      c.deadline = c.start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(*timeout));
    }
    running_.push_back(std::move(c));
  }

  bool reap_one() {
    int status = 0;
    struct rusage ru {};
    pid_t pid = ::wait4(-1, &status, WNOHANG, &ru);
    if (pid <= 0) return false;
    auto it = std::find_if(running_.begin(), running_.end(), [&](const Running& c) { return c.pid == pid; });
    if (it == running_.end()) return true;
    Running c = std::move(*it);
    running_.erase(it);
    ::kill(-c.pid, SIGKILL);  // anything the child left in its group
    finish(c, status, ru);
    return true;
  }

  void enforce_timeouts() {
    auto now = Clock::now();
    for (auto& c : running_) {
      if (c.has_deadline && !c.term_sent && now >= c.deadline) {
        ::kill(-c.pid, SIGTERM);
        c.term_sent = c.timed_out = true;
        c.kill_at = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.kill_grace_s));
      } else if (c.term_sent && now >= c.kill_at) {
        ::kill(-c.pid, SIGKILL);
      }
    }
  }

  void finish(const Running& c, int status, const struct rusage& ru) {
    const ManifestRow& row = manifest_.rows[c.row];
    double seconds = std::chrono::duration<double>(Clock::now() - c.start).count();
    int exit_code = -1;
    Json signal = nullptr;
    std::string st;
    if (WIFEXITED(status)) {
      exit_code = WEXITSTATUS(status);
      st = c.timed_out ? "timeout" : status_of_exit(exit_code);
    } else if (WIFSIGNALED(status)) {
      signal = signal_name(WTERMSIG(status));
      st = c.timed_out ? "timeout" : "crashed";
    }
    std::error_code ec;
    // Files move in: data before the model that names it, the log, and result.json last.
    fs::path model = c.dir / "model.onnx", data = c.dir / "model.onnx.data";
    fs::remove(model, ec);
    fs::remove(data, ec);
    bool wrote = !c.timed_out && fs::exists(c.staging / "model.onnx", ec);
    if (wrote) {
      if (fs::exists(c.staging / "model.onnx.data", ec)) fs::rename(c.staging / "model.onnx.data", data);
      fs::rename(c.staging / "model.onnx", model);
    }
    fs::rename(c.staging / "log.txt", c.dir / "log.txt", ec);
    Json report;
    try {
      if (fs::exists(c.staging / "report.json", ec)) report = Json::parse(read_file(c.staging / "report.json"));
    } catch (const std::exception&) {
    }
    fs::remove_all(c.staging, ec);

    Json j;
    j["schema"] = kSchema;
    j["id"] = row.id;
    j["path"] = row.path.string();
    j["input"] = {{"sha256", c.key.model_sha}, {"bytes", c.key.model_bytes}};
    j["command"] = row.command;
    j["args"] = row.args;
    j["cache"] = {{"key", c.key.key}, {"hit", false}};
    j["status"] = st;
    j["exit_code"] = exit_code >= 0 ? Json(exit_code) : Json();
    j["signal"] = signal;
    Json error = last_error(c.dir / "log.txt");
    if (st == "timeout")
      error = fmt::format("timed out after {:g} s (SIGTERM to its process group{})", *row.timeout_s,
                          signal == "SIGKILL" ? ", then SIGKILL" : "");
    else if (st == "crashed")
      error = fmt::format("killed by {}", signal.get<std::string>());
    j["error"] = error;
    if (wrote) {
      int64_t bytes = 0;
      std::string sha = sha256_file(model, &bytes);
      if (fs::exists(data, ec)) bytes += static_cast<int64_t>(fs::file_size(data));
      j["output"] = {{"path", fs::relative(model, options_.out).generic_string()}, {"sha256", sha}, {"bytes", bytes}};
      j["ratio"] = c.key.model_bytes ? static_cast<double>(bytes) / static_cast<double>(c.key.model_bytes) : 0.0;
    } else {
      j["output"] = nullptr;
      j["ratio"] = nullptr;
    }
    j["metrics"] = report.is_object() && report.contains("eval") ? report["eval"] : Json();
    j["gate"] = report.is_object() && report.contains("gates") ? report["gates"] : Json();
    j["time_s"] = std::round(seconds * 1000) / 1000;
    j["peak_rss_bytes"] = static_cast<int64_t>(ru.ru_maxrss) * 1024;
    j["shard"] = shard_json();
    j["tool"] = {{"version", options_.tool_version}, {"build", options_.build_id}};
    // Class 5 is never a cache entry: without the key a rerun always runs it again.
    if (status_class(st) == 5) j["cache"]["key"] = nullptr;
    write_json_file(c.dir / "result.json", j);
    ++summary_.ran;
    count_result(j);
    results_[c.row] = std::move(j);
    progress(c.row);
  }

  void count_result(const Json& j) {
    int cls = status_class(j.value("status", "internal"));
    if (failures_.size() < 6) failures_.assign(6, 0);
    if (cls == 0) ++summary_.ok;
    else ++summary_.failed, ++failures_[static_cast<size_t>(cls)];
    ++done_;
  }

  void progress(size_t r) {
    if (!options_.progress) return;
    double elapsed = std::chrono::duration<double>(Clock::now() - started_).count();
    size_t fresh = done_ - static_cast<size_t>(summary_.cached);
    size_t left = total_ - done_;
    double eta = fresh ? elapsed / static_cast<double>(fresh) * static_cast<double>(left) : 0;
    const Json& j = results_[r];
    std::string line = fmt::format("batch: [{}/{}] {} {} {:.2f} s | ok {} failed {} cached {} running {} | ETA {}",
                                   done_, total_, j["id"].get<std::string>(), j["status"].get<std::string>(),
                                   j["time_s"].get<double>(), summary_.ok, summary_.failed, summary_.cached,
                                   running_.size(), fmt_eta(eta));
    if (options_.progress_tty) std::cerr << "\r\033[K" << line << std::flush;
    else std::cerr << line << "\n";
  }

  void stop_all(int sig, const struct sigaction& old_int, const struct sigaction& old_term,
                const struct sigaction& old_hup) {
    for (auto& c : running_) ::kill(-c.pid, SIGTERM);
    auto give_up = Clock::now() + std::chrono::seconds(5);
    while (!running_.empty() && Clock::now() < give_up) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid > 0) {
        std::erase_if(running_, [&](const Running& c) { return c.pid == pid; });
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    for (auto& c : running_) ::kill(-c.pid, SIGKILL);
    for (auto& c : running_) {
      ::waitpid(c.pid, nullptr, 0);
      std::error_code ec;
      fs::remove_all(c.staging, ec);
    }
    std::cerr << "\nbatch: stopped by signal " << sig << "; finished models keep their result.json\n";
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    sigaction(SIGHUP, &old_hup, nullptr);
    ::raise(sig);
  }

  const Manifest& manifest_;
  const BatchOptions& options_;
  std::vector<size_t> rows_;
  std::vector<Json> results_;
  std::vector<Running> running_;
  std::vector<int> failures_ = std::vector<int>(6, 0);
  BatchSummary summary_;
  size_t done_ = 0, total_ = 0;
  Clock::time_point started_;
};

}  // namespace

int status_class(const std::string& status) {
  if (status == "ok") return 0;
  if (status == "usage") return 1;
  if (status == "bad_input") return 2;
  if (status == "unsupported") return 3;
  if (status == "gate_failed") return 4;
  return 5;
}

int batch_exit_code(const std::vector<int>& failures_by_class, int max_failures) {
  int total = 0;
  for (size_t c = 1; c < failures_by_class.size(); ++c) total += failures_by_class[c];
  if (total <= max_failures) return 0;
  for (int c : {5, 1, 2, 3, 4})
    if (static_cast<size_t>(c) < failures_by_class.size() && failures_by_class[static_cast<size_t>(c)] > 0) return c;
  return 0;
}

std::vector<size_t> shard_rows(const Manifest& manifest, int index, int count) {
  if (count < 1 || index < 0 || index >= count)
    throw_usage("shard {} of {}: the index must be 0..count-1", index, count);
  std::vector<size_t> order(manifest.rows.size());
  std::vector<int64_t> bytes(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
    std::error_code ec;
    auto size = fs::file_size(manifest.rows[i].path, ec);
    bytes[i] = ec ? 0 : static_cast<int64_t>(size);
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (bytes[a] != bytes[b]) return bytes[a] > bytes[b];
    return manifest.rows[a].id < manifest.rows[b].id;
  });
  std::vector<int64_t> load(static_cast<size_t>(count), 0);
  std::vector<size_t> mine;
  for (size_t r : order) {
    size_t best = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    load[best] += std::max<int64_t>(bytes[r], 1);
    if (best == static_cast<size_t>(index)) mine.push_back(r);
  }
  std::sort(mine.begin(), mine.end());
  return mine;
}

int available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  int cpus = ::sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 0;
  if (cpus <= 0) cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // cgroup v2: "max 100000" or "QUOTA PERIOD" for this process's cgroup.
  std::ifstream cg("/proc/self/cgroup");
  std::string line, group;
  while (std::getline(cg, line))
    if (line.starts_with("0::")) group = line.substr(3);
  std::ifstream max_file("/sys/fs/cgroup" + group + "/cpu.max");
  std::string quota;
  int64_t period = 0;
  if (max_file >> quota >> period && quota != "max" && period > 0) {
    int64_t q = std::atoll(quota.c_str());
    if (q > 0) cpus = std::min<int>(cpus, static_cast<int>(std::max<int64_t>(1, (q + period - 1) / period)));
  }
  return std::max(1, cpus);
}

BatchSummary run_batch(const Manifest& manifest, const BatchOptions& options) {
  Runner runner(manifest, options);
  return runner.run();
}

Json explain_key(const Manifest& manifest, const std::string& id, const BatchOptions& options) {
  for (const auto& row : manifest.rows) {
    if (row.id != id) continue;
    Key k = compute_key(row, options);
    return {{"id", id}, {"key", k.key}, {"parts", k.parts}};
  }
  throw_usage("--explain: no model with id '{}' in {}", id, manifest.source.string());
}

}  // namespace mcompress::batch
