#include "support/paths.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "support/process.h"

namespace mcompress::test {

namespace fs = std::filesystem;

fs::path source_dir() { return MCOMPRESS_SOURCE_DIR; }
fs::path mcompress_binary() { return MCOMPRESS_BINARY; }

fs::path models_dir() { return source_dir() / "models"; }
fs::path ort_quantized_dir() { return source_dir() / "tests" / "data" / "ort-quantized"; }

fs::path model_cache() {
  if (const char* env = std::getenv("MCOMPRESS_MODEL_CACHE")) return env;
  const char* home = std::getenv("HOME");
  return fs::path(home ? home : "/root") / ".cache" / "mcompress" / "models";
}

fs::path real_model(const std::string& name) { return model_cache() / (name + ".onnx"); }

fs::path temp_dir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test = info ? std::string(info->test_suite_name()) + "." + info->name() : "test";
  for (char& c : test)
    if (c == '/') c = '_';
  fs::path dir = fs::temp_directory_path() / "mcompress-tests" / test / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string file_sha256(const fs::path& path) {
  RunResult r = run({"sha256sum", path.string()});
  return r.out.substr(0, 64);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string python() { return "/usr/bin/python3"; }
fs::path ort_run_script() { return source_dir() / "tools" / "oracle" / "ort_run.js"; }

}  // namespace mcompress::test
