#pragma once
// File helpers shared by every command that writes: outputs appear whole or not at all.
#include <cstdint>
#include <filesystem>
#include <string>

namespace mcompress {

// A file written under a temporary name in the target's folder and renamed into place by
// commit(). Destroyed without commit(), it removes the temporary: no half-written output. While it
// lives, its temporary is listed for remove_temporaries_on_signal().
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
  int slot_ = -1;  // in the table of temporaries removed on a signal; -1: not listed
  bool committed_ = false;
};

// Installs handlers for SIGINT, SIGTERM and SIGHUP (Ctrl-C; what Slurm and Kubernetes send on a
// time-out or preemption; a closed terminal) that unlink every live AtomicFile temporary, then
// re-raise the signal with its default action, so the process ends with the signal's status.
// The handler only calls unlink() on paths stored in a fixed table (async-signal-safe). A
// temporary that does not fit the table (more than 256 at once, or a path over 4 KiB) is
// still removed on every ordinary exit path, just not on a signal. Call once, from main().
void remove_temporaries_on_signal();

// Refuses to write over an input (by identity, not by spelling) or, without force, over any
// existing file. Throws a usage error naming the path.
void check_output_path(const std::filesystem::path& output, const std::filesystem::path& input, bool force);

std::string read_file(const std::filesystem::path& path);

}  // namespace mcompress
