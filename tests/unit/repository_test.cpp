// The repository stands alone: nothing in it reads a folder outside the clone, and every bundled
// model or fixture is the file its README names (by SHA-256).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>

#include "support/paths.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;

bool skipped_dir(const fs::path& dir) {
  std::string name = dir.filename().string();
  return name == ".git" || name == "node_modules" || name.rfind("build", 0) == 0;
}

// Source, scripts and docs: files under 2 MB with no NUL byte in their first 64 KiB.
bool is_text(const fs::path& file, std::string& content) {
  std::error_code ec;
  if (fs::file_size(file, ec) > (2u << 20) || ec) return false;
  std::ifstream in(file, std::ios::binary);
  content.assign(std::istreambuf_iterator<char>(in), {});
  return content.substr(0, 65536).find('\0') == std::string::npos;
}

TEST(Repository, NothingReadsAFolderBesideTheClone) {
  // Spelled in two parts so that this file does not name it.
  const std::string sibling = std::string("../") + "shared";
  std::vector<std::string> offenders;
  size_t files = 0;
  for (auto it = fs::recursive_directory_iterator(source_dir()); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_directory()) {
      if (skipped_dir(it->path())) it.disable_recursion_pending();
      continue;
    }
    std::string content;
    if (!it->is_regular_file() || !is_text(it->path(), content)) continue;
    ++files;
    if (content.find(sibling) != std::string::npos) offenders.push_back(fs::relative(it->path(), source_dir()));
  }
  EXPECT_GT(files, 100u);
  EXPECT_TRUE(offenders.empty()) << "these name " << sibling << ": " << ::testing::PrintToString(offenders);
}

// README lines "<64 hex>  <file>" for every .onnx file in the folder, and only those files.
void expect_readme_hashes(const fs::path& dir) {
  std::string readme = read_text(dir / "README.md");
  std::regex row(R"(([0-9a-f]{64})  (\S+\.onnx))");
  std::set<std::string> listed;
  for (std::sregex_iterator m(readme.begin(), readme.end(), row), end; m != end; ++m) {
    std::string name = (*m)[2];
    listed.insert(name);
    ASSERT_TRUE(fs::exists(dir / name)) << dir / "README.md" << " lists " << name << ", which is not there";
    EXPECT_EQ(file_sha256(dir / name), (*m)[1].str()) << dir / name;
  }
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".onnx")
      EXPECT_TRUE(listed.count(e.path().filename().string())) << e.path() << " has no SHA-256 line in its README";
}

TEST(Repository, BundledFilesMatchTheirReadme) {
  expect_readme_hashes(models_dir());
  expect_readme_hashes(ort_quantized_dir());
}

}  // namespace
}  // namespace mcompress::test
