#pragma once
// Image files as samples: PNG (libpng) and JPEG (libjpeg-turbo), decoded to 8-bit RGB, then
// resized, centre-cropped, converted to RGB / BGR / gray and laid out NCHW or NHWC as uint8; the
// float conversion (scale, per-channel mean and std) happens when batches are cut (dataset.h).
//
// Folder layouts (files sorted by name, so the order never depends on the file system):
//   DIR/*.png|*.jpg|*.jpeg            one sample per file, no labels
//   DIR/CLASS/**/*.png|*.jpg|*.jpeg   torchvision's ImageFolder: classes are the sorted
//                                     subfolder names, a sample's label is its class's index
// Math:
//   resize=H:W  bilinear (triangle filter) with half-pixel centres; shrinking widens the filter to
//               the scale, as PIL and torchvision's Resize(antialias=True) do; rounded to 8 bits.
//   resize=N    the shorter side becomes N, the longer int(N * long / short) (torchvision).
//   center-crop=H:W  top = round((h - H) / 2) (half to even), left likewise (torchvision).
//   gray        round(0.299 R + 0.587 G + 0.114 B) (ITU-R 601, as PIL's convert("L") and libjpeg).
// Known gaps: 16-bit PNGs are reduced to 8 bits; alpha is composited onto black (libpng's
//   simplified API); CMYK JPEGs are refused (exit 3); EXIF orientation is ignored.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mcompress::data {

// 8-bit RGB, rows top to bottom, pixels interleaved (HWC).
struct Image {
  int64_t height = 0;
  int64_t width = 0;
  std::vector<uint8_t> rgb;
};

// PNG or JPEG, told apart by their signatures. A corrupt, truncated or unreadable file throws a
// bad-input error (exit 2) naming it; libjpeg's warnings (corrupt data it would patch over) too.
Image decode_image(const std::filesystem::path& path);

// Bilinear resize as described above.
Image resize_image(const Image& image, int64_t height, int64_t width);

bool is_image_file(const std::filesystem::path& path);

struct ImageFolder {
  std::vector<std::filesystem::path> files;  // in sample order
  std::vector<std::string> names;            // relative to the folder, '/'-separated (labels CSV keys)
  std::vector<std::string> classes;          // sorted class folder names; empty for a flat folder
  std::vector<int64_t> labels;               // class index per file; empty for a flat folder
};

// The images of DIR in one of the layouts above; no images at all gives an empty result. Images
// both directly in DIR and in class subfolders is a bad-input error.
ImageFolder list_image_folder(const std::filesystem::path& dir);

}  // namespace mcompress::data
