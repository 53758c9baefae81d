// Image folders as data: PNG and JPEG files written at test time, decoded and preprocessed by
// load_dataset, must give exactly the tensors that the same pixels give when fed as .npy (JPEG:
// the pixels libjpeg itself decodes); class folders give labels; corrupt files name themselves.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mcompress/data/arrays.h"
#include "mcompress/data/dataset.h"
#include "mcompress/data/image.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/support/error.h"
#include "support/images.h"
#include "support/models.h"
#include "support/paths.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;

// The pixels as a uint8 [N, 3, H, W] (or NHWC) array, written to DIR/name.npy.
fs::path pixels_npy(const fs::path& path, const std::vector<Pixels>& images, bool nhwc, bool bgr = false) {
  int h = images[0].height, w = images[0].width;
  Shape shape = nhwc ? Shape{static_cast<int64_t>(images.size()), h, w, 3}
                     : Shape{static_cast<int64_t>(images.size()), 3, h, w};
  Tensor t(DType::u8, shape);
  auto* out = t.data<uint8_t>();
  for (size_t n = 0; n < images.size(); ++n)
    for (int k = 0; k < h * w; ++k)
      for (int c = 0; c < 3; ++c) {
        uint8_t v = images[n].rgb[static_cast<size_t>(k * 3 + (bgr ? 2 - c : c))];
        out[n * h * w * 3 + (nhwc ? k * 3 + c : c * h * w + k)] = v;
      }
  data::write_npy(path, t);
  return path;
}

void expect_same_batches(const data::Dataset& a, const data::Dataset& b) {
  ASSERT_EQ(a.samples, b.samples);
  auto x = a.batch(0, a.samples), y = b.batch(0, b.samples);
  ASSERT_EQ(x.size(), 1u);
  ASSERT_EQ(x[0].shape(), y[0].shape());
  ASSERT_EQ(x[0].dtype(), DType::f32);
  for (int64_t i = 0; i < x[0].numel(); ++i)
    ASSERT_EQ(x[0].data<float>()[i], y[0].data<float>()[i]) << "element " << i;
}

const char* kPre = "scale=0.00392157,mean=0.485:0.456:0.406,std=0.229:0.224:0.225";

TEST(ImageFolder, PngPixelsMatchTheSamePixelsAsNpy) {
  fs::path dir = temp_dir("png");
  std::vector<Pixels> images;
  for (int i = 0; i < 3; ++i) {
    images.push_back(random_pixels(5, 7, static_cast<uint32_t>(i)));
    write_png(dir / "imgs" / fmt::format("img{}.png", i), images.back());
  }
  auto pre = data::Preprocess::parse(kPre);
  std::vector<ir::ValueInfo> nchw = {tensor_input("x", DType::f32, {{}, 3, 5, 7})};
  auto from_images = data::load_dataset(dir / "imgs", nchw, pre);
  auto from_npy = data::load_dataset(pixels_npy(dir / "p.npy", images, false), nchw, pre);
  expect_same_batches(from_images, from_npy);
  EXPECT_TRUE(from_images.labels.empty());
  EXPECT_EQ(from_images.sample_names, (std::vector<std::string>{"img0.png", "img1.png", "img2.png"}));
  // The per-channel mean really is per channel: element 0 of channel 1 uses mean[1], std[1].
  auto batch = from_images.batch(0, 1);
  double g = images[0].rgb[1];
  EXPECT_FLOAT_EQ(batch[0].data<float>()[35], static_cast<float>((g * 0.00392157 - 0.456) / 0.224));

  // NHWC and BGR.
  std::vector<ir::ValueInfo> nhwc = {tensor_input("x", DType::f32, {{}, 5, 7, 3})};
  auto bgr = data::Preprocess::parse(std::string(kPre) + ",bgr");
  expect_same_batches(data::load_dataset(dir / "imgs", nhwc, bgr),
                      data::load_dataset(pixels_npy(dir / "q.npy", images, true, true), nhwc, pre));
}

TEST(ImageFolder, JpegMatchesLibjpegsOwnDecode) {
  fs::path dir = temp_dir("jpeg");
  std::vector<Pixels> decoded;
  for (int i = 0; i < 2; ++i) {
    Pixels p = random_pixels(16, 16, static_cast<uint32_t>(10 + i));
    fs::path file = dir / "imgs" / fmt::format("a{}.{}", i, i ? "JPG" : "jpeg");
    fs::create_directories(file.parent_path());
    write_jpeg(file, p, 90);
    decoded.push_back(decode_jpeg_with_libjpeg(file));
    // Lossy: the decode is near the encoded pixels, not equal to them.
    EXPECT_NE(decoded.back().rgb, p.rgb);
  }
  std::vector<ir::ValueInfo> in = {tensor_input("x", DType::f32, {{}, 3, 16, 16})};
  auto pre = data::Preprocess::parse("scale=0.00392157");
  expect_same_batches(data::load_dataset(dir / "imgs", in, pre),
                      data::load_dataset(pixels_npy(dir / "d.npy", decoded, false), in, pre));
}

TEST(ImageFolder, GrayUsesPilsWeights) {
  fs::path dir = temp_dir("gray");
  Pixels p{1, 3, {255, 0, 0, 0, 255, 0, 10, 20, 30}};
  write_png(dir / "g.png", p);
  auto ds = data::load_dataset(dir, {tensor_input("x", DType::f32, {{}, 1, 1, 3})}, {});
  auto b = ds.batch(0, 1);
  // PIL: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16
  EXPECT_EQ(b[0].data<float>()[0], 76.f);
  EXPECT_EQ(b[0].data<float>()[1], 150.f);
  EXPECT_EQ(b[0].data<float>()[2], 18.f);
  // Rank-3 inputs (N, H, W) take gray too.
  auto r3 = data::load_dataset(dir, {tensor_input("x", DType::f32, {{}, 1, 3})}, {});
  EXPECT_EQ(r3.batch(0, 1)[0].data<float>()[1], 150.f);
}

TEST(ImageFolder, ClassFoldersGiveSortedLabels) {
  fs::path dir = temp_dir("classes");
  write_png(dir / "zebra" / "b.png", random_pixels(2, 2, 1));
  write_png(dir / "zebra" / "a.png", random_pixels(2, 2, 2));
  write_png(dir / "cat" / "x" / "deep.png", random_pixels(2, 2, 3));
  fs::create_directories(dir / "empty");
  auto ds = data::load_dataset(dir, {tensor_input("x", DType::f32, {{}, 3, 2, 2})}, {});
  EXPECT_EQ(ds.classes, (std::vector<std::string>{"cat", "zebra"}));
  EXPECT_EQ(ds.sample_names, (std::vector<std::string>{"cat/x/deep.png", "zebra/a.png", "zebra/b.png"}));
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{0, 1, 1}));

  write_png(dir / "stray.png", random_pixels(2, 2, 4));
  EXPECT_THROW(data::load_dataset(dir, {tensor_input("x", DType::f32, {{}, 3, 2, 2})}, {}), Error);
}

TEST(ImageFolder, LabelsCsvBesideTheImagesOrGivenApart) {
  fs::path dir = temp_dir("csv");
  for (const char* name : {"a.png", "b.png", "c.png"}) write_png(dir / "imgs" / name, random_pixels(2, 2, 5));
  std::ofstream(dir / "imgs" / "labels.csv") << "file,label\nc.png,7\na.png, 3\nb.png,0\n";
  std::vector<ir::ValueInfo> in = {tensor_input("x", DType::f32, {{}, 3, 2, 2})};
  auto ds = data::load_dataset(dir / "imgs", in, {});
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{3, 0, 7}));
  std::ofstream(dir / "other.csv") << "a.png,1\nb.png,2\nc.png,3\n";
  EXPECT_EQ(data::load_labels(dir / "other.csv", ds.sample_names), (std::vector<int64_t>{1, 2, 3}));
  std::ofstream(dir / "missing.csv") << "a.png,1\nb.png,2\n";
  try {
    data::load_labels(dir / "missing.csv", ds.sample_names);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("no label for image 'c.png'"), std::string::npos) << e.what();
  }
}

TEST(ImageFolder, ResizeAndCenterCrop) {
  fs::path dir = temp_dir("resize");
  // A horizontal ramp 0, 10, ..., 70 on 8 columns, 4 rows.
  Pixels ramp{4, 8, {}};
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 8; ++x)
      for (int c = 0; c < 3; ++c) ramp.rgb.push_back(static_cast<uint8_t>(10 * x + c));
  write_png(dir / "r" / "ramp.png", ramp);
  // Halving with the widened triangle: interior outputs average their two source columns.
  auto half = data::load_dataset(dir / "r", {tensor_input("x", DType::f32, {{}, 3, 2, 4})},
                                 data::Preprocess::parse("resize=2:4"));
  auto h = half.batch(0, 1)[0];
  EXPECT_EQ(h.data<float>()[1], 25.f);  // channel 0, row 0, column 1: (20 + 30) / 2
  EXPECT_EQ(h.data<float>()[2], 45.f);
  EXPECT_EQ(h.data<float>()[8 + 1], 26.f);  // channel 1
  // Shorter side to 2 keeps the aspect (2 x 4), then a 2x2 centre crop takes columns 1 and 2.
  auto crop = data::load_dataset(dir / "r", {tensor_input("x", DType::f32, {{}, 3, 2, 2})},
                                 data::Preprocess::parse("resize=2,center-crop"));
  auto c = crop.batch(0, 1)[0];
  EXPECT_EQ(c.data<float>()[0], 25.f);
  EXPECT_EQ(c.data<float>()[1], 45.f);
  // Crop alone: top = round((4 - 2) / 2) = 1, left = round((8 - 4) / 2) = 2.
  auto only = data::load_dataset(dir / "r", {tensor_input("x", DType::f32, {{}, 3, 2, 4})},
                                 data::Preprocess::parse("center-crop=2:4"));
  EXPECT_EQ(only.batch(0, 1)[0].data<float>()[0], 20.f);
  // Same size: unchanged; a size mismatch without resize names the file.
  try {
    data::load_dataset(dir / "r", {tensor_input("x", DType::f32, {{}, 3, 5, 5})}, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("ramp.png: 4x8"), std::string::npos) << e.what();
  }
}

TEST(ImageFolder, CorruptImagesNameTheFile) {
  fs::path dir = temp_dir("corrupt");
  write_png(dir / "png" / "ok.png", random_pixels(8, 8, 1));
  write_jpeg(dir / "jpg" / "ok.jpg", random_pixels(16, 16, 2), 90);
  std::string png = read_text(dir / "png" / "ok.png"), jpg = read_text(dir / "jpg" / "ok.jpg");
  std::ofstream(dir / "png" / "truncated.png", std::ios::binary) << png.substr(0, png.size() / 2);
  std::ofstream(dir / "jpg" / "truncated.jpg", std::ios::binary) << jpg.substr(0, jpg.size() / 2);
  fs::create_directories(dir / "txt");
  std::ofstream(dir / "txt" / "notes.png") << "hello";
  std::string bad_crc = png;
  bad_crc[bad_crc.size() / 2] ^= 0x55;
  fs::create_directories(dir / "crc");
  std::ofstream(dir / "crc" / "flipped.png", std::ios::binary) << bad_crc;
  for (auto [folder, file] : {std::pair{"png", "truncated.png"}, {"jpg", "truncated.jpg"}, {"txt", "notes.png"},
                              {"crc", "flipped.png"}}) {
    int64_t side = std::string(folder) == "jpg" ? 16 : 8;
    try {
      data::load_dataset(dir / folder, {tensor_input("x", DType::f32, {{}, 3, side, side})}, {});
      ADD_FAILURE() << file << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::bad_input) << e.what();
      EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    }
  }
}

TEST(Preprocess, ParsesImageKeysAndRefusesBadOnes) {
  auto p = data::Preprocess::parse("resize=256,center-crop=224,bgr,layout=nhwc,mean=1:2:3,std=4:5:6");
  EXPECT_EQ(p.resize_height, 256);
  EXPECT_EQ(p.resize_width, 0);
  EXPECT_EQ(p.crop_height, 224);
  EXPECT_EQ(p.crop_width, 224);
  EXPECT_EQ(p.color, data::Preprocess::Color::bgr);
  EXPECT_EQ(p.layout, data::Preprocess::Layout::nhwc);
  EXPECT_EQ(p.std, (std::vector<double>{4, 5, 6}));
  for (const char* bad : {"resize=0", "resize=2:3:4", "mean=1:2,std=1:2:3", "std=1:0:1", "layout=chw", "mean=1:",
                          "sepia", "center-crop=1.5"})
    EXPECT_THROW(data::Preprocess::parse(bad), Error) << bad;
  // Image options on non-image data are a usage error.
  fs::path dir = temp_dir("arrays");
  data::write_npy(dir / "a.npy", Tensor(DType::f32, {2, 3}));
  try {
    data::load_dataset(dir / "a.npy", {tensor_input("x", DType::f32, {{}, 3})}, data::Preprocess::parse("resize=2"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
  }
}

// ONNX's test_data_set_N folders: input_K.pb (often unnamed) feed the inputs in order, and the
// output_K.pb beside them are not inputs.
TEST(TensorProtoFolder, OnnxTestDataSetFeedsInputsInOrder) {
  fs::path set = "/usr/share/libonnx-testdata/data/pytorch-converted/test_Conv2d/test_data_set_0";
  if (!fs::exists(set)) GTEST_SKIP() << set << " missing (libonnx-testdata)";
  // The model's one fed input (its weights "1" is an initializer); the data's tensor is unnamed.
  auto ds = data::load_dataset(set, {tensor_input("0", DType::f32, {2, 3, 7, 5})}, {});
  ASSERT_EQ(ds.arrays.size(), 1u);
  EXPECT_EQ(ds.samples, 2);
  auto batch = ds.batch(0, ds.samples);
  EXPECT_EQ(batch[0].shape(), (Shape{2, 3, 7, 5}));
  Tensor expected = onnxio::load_tensor_file(set / "input_0.pb").tensor;
  EXPECT_TRUE(batch[0] == expected);
}

}  // namespace
}  // namespace mcompress::test
