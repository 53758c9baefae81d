#pragma once
// File helpers shared by every command that writes: outputs appear whole or not at all.
#include <cstdint>
#include <filesystem>
#include <string>

namespace mcompress {

// A file written under a temporary name in the target's folder and renamed into place by
// commit(). Destroyed without commit(), it removes the temporary: no half-written output.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path target);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  int fd() const { return fd_; }
  const std::filesystem::path& temp_path() const { return temp_; }
  const std::filesystem::path& target() const { return target_; }
  void write(const void* data, size_t size);
  // Flushes to disk, closes and renames over the target.
  void commit();

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  int fd_ = -1;
  bool committed_ = false;
};

// Refuses to write over an input (by identity, not by spelling) or, without force, over any
// existing file. Throws a usage error naming the path.
void check_output_path(const std::filesystem::path& output, const std::filesystem::path& input, bool force);

std::string read_file(const std::filesystem::path& path);

}  // namespace mcompress
