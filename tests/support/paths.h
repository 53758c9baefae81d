#pragma once
#include <filesystem>
#include <string>

namespace mcompress::test {

std::filesystem::path source_dir();
std::filesystem::path mcompress_binary();
std::filesystem::path models_dir();         // the bundled Fashion-MNIST models (models/)
std::filesystem::path ort_quantized_dir();  // ONNX Runtime's quantized versions (tests/data/ort-quantized/)
std::filesystem::path model_cache();    // real models (tools/fetch_models.sh)
// A cached real model by name: model_cache() / "NAME.onnx".
std::filesystem::path real_model(const std::string& name);
// A fresh, empty folder under the build's temp area, unique per test.
std::filesystem::path temp_dir(const std::string& name);
std::string file_sha256(const std::filesystem::path& path);
std::string read_text(const std::filesystem::path& path);

// The ONNX Runtime oracle and the fixture scripts.
std::string python();  // Debian's python3 with onnx and numpy
std::filesystem::path ort_run_script();

}  // namespace mcompress::test

// Skips the current test when the real model at PATH was not fetched. A macro because
// GTEST_SKIP returns from the test body.
#define MCOMPRESS_SKIP_UNLESS_FETCHED(path) \
  if (!std::filesystem::exists(path)) GTEST_SKIP() << (path) << " not fetched (tools/fetch_models.sh)"
