#pragma once
// Errors that reach the user. Every throw names the file / node / tensor it is about; the CLI
// maps the category to the exit code in docs/CLI.md.
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace mcompress {

enum class ExitCode : int {
  ok = 0,
  usage = 1,        // unknown flag, bad value
  bad_input = 2,    // unreadable, malformed or inconsistent model or data file
  unsupported = 3,  // valid input the command cannot handle
  quality_gate = 4, // a quality gate failed; nothing written
  internal = 5,     // a bug
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, std::string message) : std::runtime_error(std::move(message)), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

template <typename... Args>
[[noreturn]] void throw_bad_input(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ExitCode::bad_input, fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
[[noreturn]] void throw_unsupported(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ExitCode::unsupported, fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
[[noreturn]] void throw_usage(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ExitCode::usage, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace mcompress
