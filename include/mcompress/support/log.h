#pragma once
// The one logger every module writes to. It logs to stderr so that stdout stays clean for --json.
#include <spdlog/spdlog.h>

namespace mcompress::log {

// Verbosity from the CLI: 0 = info, >0 more (-v debug, -vv trace), <0 less (-q warnings only).
void init(int verbosity);
spdlog::logger& get();

template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) { get().info(f, std::forward<Args>(args)...); }
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) { get().debug(f, std::forward<Args>(args)...); }
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) { get().warn(f, std::forward<Args>(args)...); }

}  // namespace mcompress::log
