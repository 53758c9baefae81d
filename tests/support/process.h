#pragma once
// Runs a program (mcompress, node, python3) the way a user or CI would, and captures it.
#include <string>
#include <vector>

namespace mcompress::test {

struct RunResult {
  int exit_code = -1;  // -1: did not exit normally (signal)
  std::string out;
  std::string err;
};

RunResult run(const std::vector<std::string>& argv);
// Convenience: mcompress with these arguments.
RunResult run_mcompress(const std::vector<std::string>& args);

}  // namespace mcompress::test
