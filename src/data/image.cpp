#include "mcompress/data/image.h"

#include <jpeglib.h>
#include <png.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csetjmp>
#include <cstring>

#include "mcompress/support/error.h"
#include "mcompress/support/file_io.h"

namespace mcompress::data {

namespace fs = std::filesystem;

namespace {

bool starts_with(const std::string& bytes, const char* magic, size_t n) {
  return bytes.size() >= n && std::memcmp(bytes.data(), magic, n) == 0;
}

Image decode_png(const std::string& bytes, const std::string& where) {
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, bytes.data(), bytes.size()))
    throw_bad_input("{}: not a readable PNG: {}", where, png.message);
  png.format = PNG_FORMAT_RGB;
  Image image;
  image.height = png.height;
  image.width = png.width;
  image.rgb.resize(PNG_IMAGE_SIZE(png));
  if (!png_image_finish_read(&png, nullptr, image.rgb.data(), 0, nullptr)) {
    std::string message = png.message;
    png_image_free(&png);
    throw_bad_input("{}: corrupt PNG: {}", where, message);
  }
  return image;
}

// libjpeg reports errors through error_exit, which must not return: it jumps back to the
// decoder with the message. Warnings (corrupt data libjpeg would patch over) count as errors.
struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit(j_common_ptr info) {
  auto* err = reinterpret_cast<JpegError*>(info->err);
  (*info->err->format_message)(info, err->message);
  std::longjmp(err->jump, 1);
}

void jpeg_emit_message(j_common_ptr info, int level) {
  if (level < 0) jpeg_error_exit(info);
}

// Returns 0 on success, 1 on a libjpeg error (message in err), 2 for an unsupported colour
// space. Only trivially destructible locals live here, because of the longjmp; `out` belongs to
// the caller.
int decode_jpeg_raw(const std::string& bytes, JpegError& err, std::vector<uint8_t>& out, int64_t& height,
                    int64_t& width) {
  jpeg_decompress_struct cinfo;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  err.mgr.emit_message = jpeg_emit_message;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return 1;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    return 2;
  }
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  height = cinfo.output_height;
  width = cinfo.output_width;
  out.resize(static_cast<size_t>(height * width * 3));
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.data() + static_cast<size_t>(cinfo.output_scanline) * static_cast<size_t>(width) * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return 0;
}

Image decode_jpeg(const std::string& bytes, const std::string& where) {
  Image image;
  JpegError err{};
  int rc = decode_jpeg_raw(bytes, err, image.rgb, image.height, image.width);
  if (rc == 1) throw_bad_input("{}: corrupt JPEG: {}", where, err.message);
  if (rc == 2) throw_unsupported("{}: CMYK JPEGs are not supported (convert to RGB)", where);
  return image;
}

// PIL's precompute_coeffs for the bilinear (triangle) filter: output pixel o of `out` reads
// inputs [first[o], first[o] + count) with weights normalised to 1.
struct Taps {
  std::vector<int64_t> first;
  std::vector<std::vector<double>> weights;
};

Taps bilinear_taps(int64_t in, int64_t out) {
  double scale = static_cast<double>(in) / static_cast<double>(out);
  double filter_scale = std::max(scale, 1.0);
  double support = filter_scale;  // the triangle's support is 1
  Taps taps;
  for (int64_t o = 0; o < out; ++o) {
    double center = (static_cast<double>(o) + 0.5) * scale;
    auto lo = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    auto hi = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), in);
    std::vector<double> w;
    double total = 0;
    for (int64_t i = lo; i < hi; ++i) {
      double x = std::abs((static_cast<double>(i) - center + 0.5) / filter_scale);
      w.push_back(x < 1 ? 1 - x : 0);
      total += w.back();
    }
    for (double& v : w) v = total > 0 ? v / total : 0;
    taps.first.push_back(lo);
    taps.weights.push_back(std::move(w));
  }
  return taps;
}

}  // namespace

Image decode_image(const fs::path& path) {
  const std::string where = path.string();
  std::string bytes = read_file(path);
  if (starts_with(bytes, "\x89PNG\r\n\x1a\n", 8)) return decode_png(bytes, where);
  if (starts_with(bytes, "\xff\xd8\xff", 3)) return decode_jpeg(bytes, where);
  throw_bad_input("{}: neither a PNG nor a JPEG file (unknown signature)", where);
}

Image resize_image(const Image& image, int64_t height, int64_t width) {
  if (image.height == height && image.width == width) return image;
  Taps tx = bilinear_taps(image.width, width);
  Taps ty = bilinear_taps(image.height, height);
  // Horizontal pass in double, then vertical, rounding once at the end.
  std::vector<double> rows(static_cast<size_t>(image.height * width * 3));
  for (int64_t y = 0; y < image.height; ++y)
    for (int64_t x = 0; x < width; ++x)
      for (int64_t c = 0; c < 3; ++c) {
        double acc = 0;
        const auto& w = tx.weights[static_cast<size_t>(x)];
        for (size_t k = 0; k < w.size(); ++k)
          acc += w[k] * image.rgb[static_cast<size_t>((y * image.width + tx.first[static_cast<size_t>(x)] +
                                                        static_cast<int64_t>(k)) * 3 + c)];
        rows[static_cast<size_t>((y * width + x) * 3 + c)] = acc;
      }
  Image out;
  out.height = height;
  out.width = width;
  out.rgb.resize(static_cast<size_t>(height * width * 3));
  for (int64_t y = 0; y < height; ++y) {
    const auto& w = ty.weights[static_cast<size_t>(y)];
    int64_t first = ty.first[static_cast<size_t>(y)];
    for (int64_t x = 0; x < width; ++x)
      for (int64_t c = 0; c < 3; ++c) {
        double acc = 0;
        for (size_t k = 0; k < w.size(); ++k)
          acc += w[k] * rows[static_cast<size_t>(((first + static_cast<int64_t>(k)) * width + x) * 3 + c)];
        out.rgb[static_cast<size_t>((y * width + x) * 3 + c)] =
            static_cast<uint8_t>(std::clamp(std::lround(acc), 0L, 255L));
      }
  }
  return out;
}

bool is_image_file(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

ImageFolder list_image_folder(const fs::path& dir) {
  ImageFolder folder;
  std::vector<fs::path> top, classes;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_directory()) classes.push_back(e.path());
    else if (e.is_regular_file() && is_image_file(e.path())) top.push_back(e.path());
  }
  std::sort(top.begin(), top.end());
  std::sort(classes.begin(), classes.end());
  auto add = [&](const fs::path& file, int64_t label) {
    folder.files.push_back(file);
    folder.names.push_back(file.lexically_relative(dir).generic_string());
    if (label >= 0) folder.labels.push_back(label);
  };
  // Class folders: those holding images at any depth (torchvision's ImageFolder skips empty ones).
  std::vector<std::pair<std::string, std::vector<fs::path>>> found;
  for (const fs::path& c : classes) {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(c))
      if (e.is_regular_file() && is_image_file(e.path())) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    if (!files.empty()) found.emplace_back(c.filename().string(), std::move(files));
  }
  if (!top.empty() && !found.empty())
    throw_bad_input("{}: holds images both directly ({}) and in class folders ({}); use one layout", dir.string(),
                    top.front().filename().string(), found.front().first);
  for (const fs::path& f : top) add(f, -1);
  for (size_t k = 0; k < found.size(); ++k) {
    folder.classes.push_back(found[k].first);
    for (const fs::path& f : found[k].second) add(f, static_cast<int64_t>(k));
  }
  return folder;
}

}  // namespace mcompress::data
