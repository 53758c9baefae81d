#include "mcompress/support/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "mcompress/support/error.h"

namespace mcompress {

namespace fs = std::filesystem;

AtomicFile::AtomicFile(fs::path target) : target_(std::move(target)) {
  fs::path dir = target_.parent_path();
  if (dir.empty()) dir = ".";
  std::string name = target_.filename().string();
  name.insert(0, 1, '.');
  name.append(".tmp.XXXXXX");
  std::string pattern = (dir / name).string();
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  fd_ = ::mkstemp(buf.data());
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
