// Data readers: .npy/.npz (ours and NumPy's, stored and deflated), IDX .gz, TensorProto folders,
// batching with preprocessing and reshaping to the model input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mcompress/data/arrays.h"
#include "mcompress/data/dataset.h"
#include "mcompress/support/error.h"
#include "support/models.h"
#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;

const fs::path kFashion = "/usr/share/datasets/fashion-mnist";

TEST(Npy, RoundTripsEveryDtype) {
  fs::path dir = temp_dir("npy");
  for (DType d : {DType::f32, DType::f64, DType::f16, DType::i8, DType::u8, DType::i16, DType::u16, DType::i32,
                  DType::u32, DType::i64, DType::u64, DType::boolean}) {
    Tensor t(d, {2, 3});
    for (size_t i = 0; i < t.storage().size(); ++i) t.storage()[i] = static_cast<char>(i * 7 + 1);
    if (d == DType::boolean)
      for (auto& c : t.storage()) c = c & 1;
    data::write_npy(dir / "a.npy", t);
    EXPECT_TRUE(data::read_npy(dir / "a.npy") == t) << dtype_name(d);
  }
  Tensor scalar(DType::i64, {});
  data::write_npy(dir / "s.npy", scalar);
  EXPECT_EQ(data::read_npy(dir / "s.npy").shape(), Shape{});
}

TEST(Npz, ReadsNumpysDeflatedAndStoredFiles) {
  fs::path dir = temp_dir("npz");
  std::string script =
      "import numpy as np\n"
      "np.savez_compressed('" + (dir / "c.npz").string() + "', x=np.arange(12, dtype=np.float32).reshape(3,4), "
      "y=np.array([1,-2], dtype=np.int64))\n"
      "np.savez('" + (dir / "s.npz").string() + "', z=np.ones((2,2), dtype=np.uint8))\n";
  auto r = run({python(), "-c", script});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto c = data::read_npz(dir / "c.npz");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].first, "x");
  EXPECT_EQ(c[0].second.shape(), (Shape{3, 4}));
  EXPECT_EQ(c[0].second.data<float>()[11], 11.f);
  EXPECT_EQ(c[1].second.data<int64_t>()[1], -2);
  auto s = data::read_npz(dir / "s.npz");
  EXPECT_EQ(s[0].second.dtype(), DType::u8);

  // Ours is read back by NumPy with the same values.
  Tensor x = c[0].second;
  data::write_npz(dir / "ours.npz", {{"x", &x}});
  auto check = run({python(), "-c", "import numpy as np; a=np.load('" + (dir / "ours.npz").string() +
                                        "')['x']; assert a.shape==(3,4) and a[2,3]==11.0, a"});
  EXPECT_EQ(check.exit_code, 0) << check.err;
}

TEST(Npz, CorruptFilesNameTheFile) {
  fs::path dir = temp_dir("bad");
  std::ofstream(dir / "bad.npz") << "PK not really";
  try {
    data::read_npz(dir / "bad.npz");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("bad.npz"), std::string::npos);
  }
}

TEST(Idx, ReadsFashionMnist) {
  Tensor labels = data::read_idx(kFashion / "t10k-labels-idx1-ubyte.gz");
  EXPECT_EQ(labels.shape(), Shape{10000});
  EXPECT_EQ(labels.data<uint8_t>()[0], 9);
  EXPECT_EQ(labels.data<uint8_t>()[1], 2);
  Tensor images = data::read_idx(kFashion / "t10k-images-idx3-ubyte.gz");
  EXPECT_EQ(images.shape(), (Shape{10000, 28, 28}));
  int64_t sum = 0;
  for (int i = 0; i < 784; ++i) sum += images.data<uint8_t>()[i];
  EXPECT_EQ(sum, 33456);
}

TEST(Dataset, IdxBatchesArePreprocessedAndReshaped) {
  auto pre = data::Preprocess::parse("scale=0.00392157,mean=0.2860,std=0.3530");
  auto ds = data::load_dataset(kFashion / "t10k-images-idx3-ubyte.gz",
                               {tensor_input("input", DType::f32, {{}, 1, 28, 28})}, pre);
  EXPECT_EQ(ds.samples, 10000);
  auto batch = ds.batch(100, 32);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].shape(), (Shape{32, 1, 28, 28}));
  Tensor images = data::read_idx(kFashion / "t10k-images-idx3-ubyte.gz");
  uint8_t raw = images.data<uint8_t>()[100 * 784 + 300];
  EXPECT_FLOAT_EQ(batch[0].data<float>()[300], static_cast<float>((raw * 0.00392157 - 0.2860) / 0.3530));
}

TEST(Dataset, RejectsSamplesThatDoNotFitTheInput) {
  EXPECT_THROW(
      data::load_dataset(kFashion / "t10k-images-idx3-ubyte.gz", {tensor_input("x", DType::f32, {{}, 3, 28, 28})}, {}),
      Error);
  EXPECT_THROW(data::Preprocess::parse("scale=abc"), Error);
  EXPECT_THROW(data::Preprocess::parse("gain=2"), Error);
}

TEST(Dataset, TensorProtoFolderMatchesInputsByName) {
  fs::path dir = source_dir() / "tests" / "data" / "pb_inputs";
  auto ds = data::load_dataset(dir, {tensor_input("b", DType::i64, {{}}), tensor_input("a", DType::f32, {{}, 2})}, {});
  EXPECT_EQ(ds.samples, 3);
  auto batch = ds.batch(1, 2);
  EXPECT_EQ(batch[0].dtype(), DType::i64);
  EXPECT_EQ(batch[0].data<int64_t>()[0], 20);
  EXPECT_EQ(batch[1].shape(), (Shape{2, 2}));
  EXPECT_EQ(batch[1].data<float>()[0], 2.f);
}

TEST(Labels, FromIdxAndNpy) {
  auto labels = data::load_labels(kFashion / "t10k-labels-idx1-ubyte.gz");
  EXPECT_EQ(labels.size(), 10000u);
  EXPECT_EQ(labels[9], 7);
}

}  // namespace
}  // namespace mcompress::test
