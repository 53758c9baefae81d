#pragma once
// SHA-256 (OpenSSL's libcrypto) of bytes and files, as lowercase hex: content addresses for the
// batch cache and the checksums of its report.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace mcompress {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  // The digest as 64 hex digits; the object cannot be updated afterwards.
  std::string hex();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string sha256_hex(std::string_view bytes);
// Streams the file (1 MiB at a time); throws bad_input naming it when it cannot be read.
// `bytes`, when given, receives the file size.
std::string sha256_file(const std::filesystem::path& path, int64_t* bytes = nullptr);

}  // namespace mcompress
