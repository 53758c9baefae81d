#pragma once
#include <filesystem>
#include <string>

namespace mcompress::test {

std::filesystem::path source_dir();
std::filesystem::path mcompress_binary();
std::filesystem::path reference_dir();  // ../shared/reference beside the checkout
std::filesystem::path model_cache();    // real models (tools/fetch_models.sh)
// A fresh, empty folder under the build's temp area, unique per test.
std::filesystem::path temp_dir(const std::string& name);
std::string file_sha256(const std::filesystem::path& path);
std::string read_text(const std::filesystem::path& path);

// The ONNX Runtime oracle and the fixture scripts.
std::string python();  // Debian's python3 with onnx and numpy
std::filesystem::path ort_run_script();

}  // namespace mcompress::test
