#include "mcompress/support/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace mcompress::log {

spdlog::logger& get() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_color_mt("mcompress");
    l->set_pattern("%^%l%$: %v");
    l->set_level(spdlog::level::info);
    return l;
  }();
  return *logger;
}

void init(int verbosity) {
  auto level = spdlog::level::info;
  if (verbosity < 0) level = spdlog::level::warn;
  if (verbosity == 1) level = spdlog::level::debug;
  if (verbosity > 1) level = spdlog::level::trace;
  get().set_level(level);
}

}  // namespace mcompress::log
