#pragma once
// Runs a program (mcompress, node, python3) the way a user or CI would, and captures it.
#include <cstdio>
#include <string>
#include <vector>

namespace mcompress::test {

struct RunResult {
  int exit_code = -1;    // -1: did not exit normally (signal)
  int term_signal = 0;   // the signal that ended it, if one did
  std::string out;
  std::string err;
};

// A program started and not yet waited for; its output goes to temp files.
struct Spawned {
  int pid = -1;
  std::FILE* out = nullptr;
  std::FILE* err = nullptr;
};

Spawned spawn(const std::vector<std::string>& argv);
RunResult wait_for(Spawned& process);
RunResult run(const std::vector<std::string>& argv);
// Convenience: mcompress with these arguments.
RunResult run_mcompress(const std::vector<std::string>& args);

}  // namespace mcompress::test
