#include "mcompress/support/file_io.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <vector>

#include "mcompress/support/error.h"

namespace mcompress {

namespace fs = std::filesystem;

namespace {

constexpr int kCleanupSignals[] = {SIGINT, SIGTERM, SIGHUP};
constexpr size_t kMaxTempPath = 4096;

// The live temporaries, readable from a signal handler: a slot's path is written only while the
// slot is claimed, and the handler reads only slots marked live.
enum SlotState : int { kFree = 0, kClaimed = 1, kLive = 2 };
struct TempSlot {
  std::atomic<int> state{kFree};
  std::array<char, kMaxTempPath> path{};
};
std::array<TempSlot, 256> g_temporaries;
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler reads slot states");

// Returns the slot index, or -1 when the path is not listed (table full or path too long).
int list_temporary(const std::string& path) {
  if (path.size() >= kMaxTempPath) return -1;
  for (size_t i = 0; i < g_temporaries.size(); ++i) {
    int expected = kFree;
    if (!g_temporaries[i].state.compare_exchange_strong(expected, kClaimed)) continue;
    std::memcpy(g_temporaries[i].path.data(), path.c_str(), path.size() + 1);
    g_temporaries[i].state.store(kLive);
    return static_cast<int>(i);
  }
  return -1;
}

void unlist_temporary(int slot) {
  if (slot >= 0) g_temporaries[static_cast<size_t>(slot)].state.store(kFree);
}

extern "C" void remove_temporaries_and_reraise(int sig) {
  for (TempSlot& slot : g_temporaries)
    if (slot.state.load() == kLive) ::unlink(slot.path.data());
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

}  // namespace

void remove_temporaries_on_signal() {
  struct sigaction action {};
  action.sa_handler = remove_temporaries_and_reraise;
  sigemptyset(&action.sa_mask);
  for (int sig : kCleanupSignals) sigaddset(&action.sa_mask, sig);
  for (int sig : kCleanupSignals) ::sigaction(sig, &action, nullptr);
}

AtomicFile::AtomicFile(fs::path target) : target_(std::move(target)) {
  fs::path dir = target_.parent_path();
  if (dir.empty()) dir = ".";
  std::string name = target_.filename().string();
  name.insert(0, 1, '.');
  name.append(".tmp.XXXXXX");
  std::string pattern = (dir / name).string();
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  // Listed before a signal can see it created and unlisted: the handler's signals wait meanwhile.
  sigset_t block, previous;
  sigemptyset(&block);
  for (int sig : kCleanupSignals) sigaddset(&block, sig);
  ::pthread_sigmask(SIG_BLOCK, &block, &previous);
  fd_ = ::mkstemp(buf.data());
  if (fd_ >= 0) slot_ = list_temporary(buf.data());
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (fd_ < 0) throw_bad_input("{}: cannot create output file: {}", target_.string(), std::strerror(errno));
  temp_ = buf.data();
  // mkstemp creates 0600; give the output the mode an ordinary create would (0666 & ~umask).
  mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd_, 0666 & ~mask);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
  unlist_temporary(slot_);
}

void AtomicFile::write(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw_bad_input("{}: write failed: {}", target_.string(), std::strerror(errno));
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  // The rename makes the output appear whole or not at all for every reader and on any process
  // crash. There is no fsync: like other model tools we do not pay a full disk flush for
  // durability across power loss (a 537 MB model would take seconds).
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw_bad_input("{}: closing failed: {}", target_.string(), std::strerror(errno));
  std::error_code ec;
  fs::rename(temp_, target_, ec);
  if (ec) throw_bad_input("{}: cannot move output into place: {}", target_.string(), ec.message());
  committed_ = true;
  // A signal from here on finds the temporary gone (unlink fails harmlessly), the output whole.
  unlist_temporary(slot_);
  slot_ = -1;
}

void check_output_path(const fs::path& output, const fs::path& input, bool force) {
  std::error_code ec;
  if (fs::exists(input, ec) && fs::exists(output, ec) && fs::equivalent(input, output, ec))
    throw_usage("{}: refusing to write over the input model", output.string());
  if (fs::is_directory(output, ec)) throw_usage("{}: output is a directory", output.string());
  // Checked before any work, so a long run does not end on a typo in -o.
  fs::path folder = output.parent_path();
  if (!folder.empty() && !fs::is_directory(folder, ec))
    throw_usage("{}: output folder does not exist", output.string());
  if (!force && fs::exists(output, ec))
    throw_usage("{}: output exists (pass --force to replace it)", output.string());
}

std::string read_file(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw_bad_input("{}: is a directory, expected a file", path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_bad_input("{}: cannot open: {}", path.string(), std::strerror(errno));
  std::string data;
  in.seekg(0, std::ios::end);
  auto size = in.tellg();
  in.seekg(0, std::ios::beg);
  data.resize(static_cast<size_t>(size));
  if (!in.read(data.data(), size)) throw_bad_input("{}: read failed", path.string());
  return data;
}

}  // namespace mcompress
