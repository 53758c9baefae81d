#include "external_data.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "mcompress/support/error.h"
#include "proto.h"

namespace mcompress::onnxio {

namespace fs = std::filesystem;

namespace {

// Offsets in the data file are aligned so runtimes can map tensors directly.
constexpr int64_t kAlignment = 64;

bool escapes(const fs::path& relative) {
  int depth = 0;
  for (const fs::path& part : relative.lexically_normal()) {
    if (part == "..") {
      if (--depth < 0) return true;
    } else if (part != "." && !part.empty()) {
      ++depth;
    }
  }
  return false;
}

}  // namespace

ExternalReader::ExternalReader(fs::path base_dir, std::string where)
    : base_dir_(std::move(base_dir)), where_(std::move(where)) {}

ExternalReader::~ExternalReader() {
  for (auto& [location, fd] : fds_) ::close(fd);
}

int ExternalReader::open_location(const std::string& location, const std::string& tensor_name) {
  if (auto it = fds_.find(location); it != fds_.end()) return it->second;
  fs::path rel(location);
  if (location.empty())
    throw_bad_input("{}: tensor '{}' has external data without a location", where_, tensor_name);
  if (rel.is_absolute())
    throw_bad_input("{}: tensor '{}' has an absolute external data location '{}'; only paths inside the model's folder are allowed",
                    where_, tensor_name, location);
  if (escapes(rel))
    throw_bad_input("{}: tensor '{}' has external data location '{}', which leaves the model's folder", where_,
                    tensor_name, location);
  fs::path full = base_dir_ / rel;
  std::error_code ec;
  if (base_canonical_.empty()) base_canonical_ = fs::weakly_canonical(base_dir_.empty() ? "." : base_dir_, ec);
  fs::path canonical = fs::weakly_canonical(full, ec);
  auto [mismatch, unused] = std::mismatch(base_canonical_.begin(), base_canonical_.end(), canonical.begin(), canonical.end());
  if (mismatch != base_canonical_.end())
    throw_bad_input("{}: tensor '{}' has external data location '{}', which resolves outside the model's folder",
                    where_, tensor_name, location);
  int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw_bad_input("{}: tensor '{}': cannot open external data file '{}': {}", where_, tensor_name, full.string(),
                    std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw_bad_input("{}: tensor '{}': external data '{}' is not a regular file", where_, tensor_name, full.string());
  }
  fds_[location] = fd;
  return fd;
}

std::string ExternalReader::read(const onnx::TensorProto& proto, const std::string& tensor_name) {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
  for (const auto& kv : proto.external_data()) {
    auto parse_int = [&](const std::string& v) -> int64_t {
      try {
        size_t used = 0;
        long long n = std::stoll(v, &used);
        if (used != v.size() || n < 0) throw std::invalid_argument(v);
        return n;
      } catch (const std::exception&) {
        throw_bad_input("{}: tensor '{}': external data {} '{}' is not a non-negative integer", where_, tensor_name,
                        kv.key(), v);
      }
    };
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset") offset = parse_int(kv.value());
    else if (kv.key() == "length") length = parse_int(kv.value());
  }
  int fd = open_location(location, tensor_name);
  struct stat st {};
  ::fstat(fd, &st);
  int64_t file_size = st.st_size;
  if (offset > file_size)
    throw_bad_input("{}: tensor '{}': external data offset {} is past the end of '{}' ({} bytes)", where_, tensor_name,
                    offset, location, file_size);
  if (length < 0) length = file_size - offset;
  if (length > file_size - offset)
    throw_bad_input("{}: tensor '{}': external data offset {} + length {} is past the end of '{}' ({} bytes)", where_,
                    tensor_name, offset, length, location, file_size);
  std::string bytes(static_cast<size_t>(length), '\0');
  int64_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd, bytes.data() + done, static_cast<size_t>(length - done), offset + done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw_bad_input("{}: tensor '{}': reading external data '{}' failed", where_, tensor_name, location);
    done += n;
  }
  return bytes;
}

ExternalWriter::ExternalWriter(const fs::path& data_path, int64_t threshold_bytes)
    : file_(data_path), location_(data_path.filename().string()), threshold_(threshold_bytes) {}

bool ExternalWriter::maybe_write(const std::string& bytes, onnx::TensorProto& proto) {
  auto size = static_cast<int64_t>(bytes.size());
  if (size < threshold_) return false;
  int64_t padding = (kAlignment - offset_ % kAlignment) % kAlignment;
  static const char zeros[kAlignment] = {};
  file_.write(zeros, static_cast<size_t>(padding));
  offset_ += padding;
  file_.write(bytes.data(), bytes.size());
  proto.set_data_location(onnx::TensorProto::EXTERNAL);
  auto add = [&](const char* key, const std::string& value) {
    auto* entry = proto.add_external_data();
    entry->set_key(key);
    entry->set_value(value);
  };
  add("location", location_);
  add("offset", std::to_string(offset_));
  add("length", std::to_string(size));
  offset_ += size;
  return true;
}

}  // namespace mcompress::onnxio
