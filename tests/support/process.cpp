#include "support/process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/paths.h"

extern char** environ;

namespace mcompress::test {

namespace {

std::string slurp(FILE* f) {
  std::string s;
  std::rewind(f);
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  std::fclose(f);
  return s;
}

}  // namespace

Spawned spawn(const std::vector<std::string>& argv) {
  // Temp files rather than pipes: no deadlock on large outputs.
  FILE* out = std::tmpfile();
  FILE* err = std::tmpfile();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fileno(out), 1);
  posix_spawn_file_actions_adddup2(&actions, fileno(err), 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
  return {pid, out, err};
}

RunResult wait_for(Spawned& process) {
  int status = 0;
  waitpid(process.pid, &status, 0);
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  r.out = slurp(process.out);
  r.err = slurp(process.err);
  process = {};
  return r;
}

RunResult run(const std::vector<std::string>& argv) {
  Spawned process = spawn(argv);
  return wait_for(process);
}

RunResult run_mcompress(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {mcompress_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

}  // namespace mcompress::test
