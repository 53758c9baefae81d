#include "support/images.h"

#include <jpeglib.h>
#include <png.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

namespace mcompress::test {

Pixels random_pixels(int height, int width, uint32_t seed) {
  Pixels p{height, width, std::vector<uint8_t>(static_cast<size_t>(height * width * 3))};
  uint32_t state = seed * 2654435761u + 12345u;
  for (auto& v : p.rgb) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<uint8_t>(state >> 24);
  }
  return p;
}

void write_png(const std::filesystem::path& path, const Pixels& p) {
  std::filesystem::create_directories(path.parent_path());
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(p.width);
  image.height = static_cast<png_uint_32>(p.height);
  image.format = PNG_FORMAT_RGB;
  if (!png_image_write_to_file(&image, path.c_str(), 0, p.rgb.data(), 0, nullptr))
    throw std::runtime_error("png write failed: " + std::string(image.message));
}

void write_jpeg(const std::filesystem::path& path, const Pixels& p, int quality) {
  std::filesystem::create_directories(path.parent_path());
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot write " + path.string());
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, f);
  cinfo.image_width = static_cast<JDIMENSION>(p.width);
  cinfo.image_height = static_cast<JDIMENSION>(p.height);
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    auto* row = const_cast<JSAMPROW>(p.rgb.data() + static_cast<size_t>(cinfo.next_scanline) * p.width * 3);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::fclose(f);
}

Pixels decode_jpeg_with_libjpeg(const std::filesystem::path& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot read " + path.string());
  jpeg_decompress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_decompress(&cinfo);
  jpeg_stdio_src(&cinfo, f);
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  Pixels p{static_cast<int>(cinfo.output_height), static_cast<int>(cinfo.output_width), {}};
  p.rgb.resize(static_cast<size_t>(p.height * p.width * 3));
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = p.rgb.data() + static_cast<size_t>(cinfo.output_scanline) * p.width * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  std::fclose(f);
  return p;
}

}  // namespace mcompress::test
