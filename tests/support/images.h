#pragma once
// PNG and JPEG fixtures written at test time with the same Debian libraries mcompress reads them
// with (libpng's simplified API, libjpeg-turbo), and libjpeg's own decode of a JPEG, which is the
// expected pixels of a JPEG test (lossy: not the pixels that were encoded).
#include <cstdint>
#include <filesystem>
#include <vector>

namespace mcompress::test {

// 8-bit RGB, HWC.
struct Pixels {
  int height = 0;
  int width = 0;
  std::vector<uint8_t> rgb;
};

// Deterministic pseudo-random pixels (a fixed LCG seeded by `seed`).
Pixels random_pixels(int height, int width, uint32_t seed);
void write_png(const std::filesystem::path& path, const Pixels& p);
void write_jpeg(const std::filesystem::path& path, const Pixels& p, int quality);
Pixels decode_jpeg_with_libjpeg(const std::filesystem::path& path);

}  // namespace mcompress::test
