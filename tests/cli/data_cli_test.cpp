// --data through the CLI: ONNX's test_data_set_N folders, and folders of PNG/JPEG images (the
// same outputs as the same pixels fed as .npy; labels from class folders; corrupt files exit 2).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "mcompress/data/arrays.h"
#include "mcompress/onnx/model_io.h"
#include "support/images.h"
#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;

const fs::path kTestData = "/usr/share/libonnx-testdata/data";

TEST(DataCli, InfersOnnxTestDataSetFolder) {
  fs::path dir = kTestData / "pytorch-converted" / "test_Conv2d";
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " missing (libonnx-testdata)";
  fs::path out = temp_dir("onnx") / "out.npz";
  auto r = run_mcompress({"infer", (dir / "model.onnx").string(), "--data", (dir / "test_data_set_0").string(), "-o",
                          out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto outputs = data::read_npz(out);
  ASSERT_EQ(outputs.size(), 1u);
  Tensor expected = onnxio::load_tensor_file(dir / "test_data_set_0" / "output_0.pb").tensor;
  const Tensor& got = outputs[0].second;
  ASSERT_EQ(got.shape(), expected.shape());
  for (int64_t i = 0; i < got.numel(); ++i) {
    float e = expected.data<float>()[i];
    ASSERT_LE(std::abs(got.data<float>()[i] - e), 1e-7 + 1e-3 * std::abs(e)) << i;  // ONNX's runner tolerance
  }
}

// Mean colour per channel: [N, 3, H, W] -> [N, 3]; its argmax is the dominant channel.
fs::path mean_colour_model(const fs::path& dir) {
  fs::path model = dir / "mean.onnx";
  std::string script =
      "import onnx\nfrom onnx import helper as h, TensorProto as T\n"
      "g = h.make_graph([h.make_node('GlobalAveragePool', ['x'], ['p']), h.make_node('Flatten', ['p'], ['y'])],"
      " 'm', [h.make_tensor_value_info('x', T.FLOAT, ['N', 3, 8, 8])],"
      " [h.make_tensor_value_info('y', T.FLOAT, ['N', 3])])\n"
      "onnx.save(h.make_model(g, opset_imports=[h.make_opsetid('', 13)]), '" + model.string() + "')\n";
  auto r = run({python(), "-c", script});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return model;
}

// An 8x8 image whose channel `dominant` is bright, the others dim.
Pixels tinted(int dominant, uint32_t seed) {
  Pixels p = random_pixels(8, 8, seed);
  for (size_t k = 0; k < p.rgb.size(); ++k)
    p.rgb[k] = static_cast<uint8_t>(static_cast<int>(k % 3) == dominant ? 200 + p.rgb[k] % 50 : p.rgb[k] % 100);
  return p;
}

TEST(DataCli, ImageFolderInfersLikeTheSamePixelsAsNpy) {
  fs::path dir = temp_dir("images");
  fs::path model = mean_colour_model(dir);
  Tensor pixels(DType::u8, {4, 3, 8, 8});
  for (int n = 0; n < 4; ++n) {
    Pixels p = tinted(n % 3, static_cast<uint32_t>(n));
    write_png(dir / "imgs" / fmt::format("i{}.png", n), p);
    for (int k = 0; k < 64; ++k)
      for (int c = 0; c < 3; ++c) pixels.data<uint8_t>()[n * 192 + c * 64 + k] = p.rgb[static_cast<size_t>(k * 3 + c)];
  }
  data::write_npy(dir / "pixels.npy", pixels);
  const std::string pre = "scale=0.00392157,mean=0.485:0.456:0.406,std=0.229:0.224:0.225";
  auto a = run_mcompress({"infer", model.string(), "--data", (dir / "imgs").string(), "--preprocess", pre, "-o",
                          (dir / "a.npz").string(), "--batch-size", "3"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto b = run_mcompress({"infer", model.string(), "--data", (dir / "pixels.npy").string(), "--preprocess", pre, "-o",
                          (dir / "b.npz").string()});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto from_images = data::read_npz(dir / "a.npz"), from_npy = data::read_npz(dir / "b.npz");
  ASSERT_EQ(from_images[0].second.shape(), (Shape{4, 3}));
  EXPECT_TRUE(from_images[0].second == from_npy[0].second);
  // Sanity: the dominant channel wins after normalisation.
  EXPECT_GT(from_images[0].second.data<float>()[0], from_images[0].second.data<float>()[1]);
}

TEST(DataCli, EvalTakesLabelsFromClassFoldersOrCsv) {
  fs::path dir = temp_dir("classes");
  fs::path model = mean_colour_model(dir);
  const char* classes[] = {"0_red", "1_green", "2_blue"};
  for (int c = 0; c < 3; ++c)
    for (int k = 0; k < 2; ++k) {
      fs::path file = dir / "imgs" / classes[c] / fmt::format("s{}.{}", k, k ? "jpg" : "png");
      if (k) write_jpeg(file, tinted(c, static_cast<uint32_t>(c * 10 + k)), 95);
      else write_png(file, tinted(c, static_cast<uint32_t>(c * 10 + k)));
    }
  auto r = run_mcompress({"eval", model.string(), model.string(), "--data", (dir / "imgs").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["samples"], 6);
  EXPECT_DOUBLE_EQ(j["accuracy"]["base"].get<double>(), 1.0);

  // A CSV overrides: one of six labels wrong.
  std::ofstream(dir / "labels.csv") << "file,label\n0_red/s0.png,0\n0_red/s1.jpg,0\n1_green/s0.png,1\n"
                                       "1_green/s1.jpg,2\n2_blue/s0.png,2\n2_blue/s1.jpg,2\n";
  r = run_mcompress({"eval", model.string(), model.string(), "--data", (dir / "imgs").string(), "--labels",
                     (dir / "labels.csv").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(r.out)["accuracy"]["base"].get<double>(), 5.0 / 6.0);

  // A corrupt image: exit 2, naming it.
  std::ofstream(dir / "imgs" / "1_green" / "broken.jpg") << "\xff\xd8\xff not a jpeg";
  r = run_mcompress({"eval", model.string(), model.string(), "--data", (dir / "imgs").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("broken.jpg"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mcompress::test
