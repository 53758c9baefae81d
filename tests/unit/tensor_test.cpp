#include <gtest/gtest.h>

#include <vector>

#include "mcompress/support/error.h"
#include "mcompress/tensor/tensor.h"

namespace mcompress {
namespace {

TEST(DType, TableFollowsOnnxCodesAndNames) {
  EXPECT_EQ(dtype_name(DType::f32), "float32");
  EXPECT_EQ(dtype_name(DType::bf16), "bfloat16");
  EXPECT_EQ(dtype_name(DType::boolean), "bool");
  EXPECT_EQ(static_cast<int>(DType::i4), 22);
  EXPECT_EQ(dtype_info(DType::i4).bits, 4);
  EXPECT_TRUE(dtype_info(DType::f16).is_float);
  EXPECT_FALSE(dtype_info(DType::i8).is_float);
  EXPECT_FALSE(is_known_dtype(0));
  EXPECT_FALSE(is_known_dtype(99));
  EXPECT_TRUE(is_known_dtype(16));
}

TEST(DType, StorageBytesPacksSubByteTypes) {
  EXPECT_EQ(storage_bytes(DType::f32, 10), 40);
  EXPECT_EQ(storage_bytes(DType::i4, 5), 3);
  EXPECT_EQ(storage_bytes(DType::u4, 4), 2);
  EXPECT_EQ(storage_bytes(DType::f32, int64_t{1} << 62), std::nullopt);
}

TEST(Tensor, ZeroFilledWithShape) {
  Tensor t(DType::f32, {2, 3});
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.nbytes(), 24);
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(t.data<float>()[i], 0.f);
}

TEST(Tensor, FromBytesChecksSize) {
  EXPECT_THROW(Tensor::from_bytes(DType::f32, {2, 2}, std::string(15, '\0')), Error);
  Tensor t = Tensor::from_bytes(DType::f32, {2, 2}, std::string(16, '\0'));
  EXPECT_EQ(t.numel(), 4);
}

TEST(Tensor, CheckedNumelRejectsNegativeAndOverflow) {
  try {
    checked_numel({2, -1}, "tensor 'w'");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("tensor 'w'"), std::string::npos);
  }
  EXPECT_THROW(checked_numel({int64_t{1} << 40, int64_t{1} << 40}, "x"), Error);
  EXPECT_EQ(checked_numel({}, "scalar"), 1);
  EXPECT_EQ(checked_numel({3, 0, 5}, "empty"), 0);
}

TEST(Tensor, EigenViewsShareStorage) {
  std::vector<float> values = {1, 2, 3, 4, 5, 6};
  Tensor t = Tensor::from_values<float>(DType::f32, {2, 3}, values);
  auto m = t.matrix<float>(2);
  EXPECT_EQ(m(1, 2), 6.f);
  m(0, 1) = 20.f;
  EXPECT_EQ(t.data<float>()[1], 20.f);
  EXPECT_FLOAT_EQ(t.vector<float>().sum(), 1 + 20 + 3 + 4 + 5 + 6);
}

TEST(Tensor, Int4NibblesLowFirst) {
  Tensor t(DType::i4, {3});
  set_nibble(t, 0, static_cast<uint8_t>(-3));
  set_nibble(t, 1, 7);
  set_nibble(t, 2, static_cast<uint8_t>(-8));
  EXPECT_EQ(static_cast<uint8_t>(t.storage()[0]), 0x7D);
  EXPECT_EQ(get_int4(t, 0), -3);
  EXPECT_EQ(get_int4(t, 1), 7);
  EXPECT_EQ(get_int4(t, 2), -8);
  EXPECT_EQ(get_uint4(t, 2), 8);
}

TEST(Tensor, ElementAsDoubleReadsHalfTypes) {
  // 0x3C00 = 1.0 in float16; 0x4040 = 3.0 in bfloat16.
  Tensor h = Tensor::from_bytes(DType::f16, {1}, std::string("\x00\x3C", 2));
  Tensor b = Tensor::from_bytes(DType::bf16, {1}, std::string("\x40\x40", 2));
  EXPECT_EQ(element_as_double(h, 0), 1.0);
  EXPECT_EQ(element_as_double(b, 0), 3.0);
  std::vector<int64_t> v = {-5};
  EXPECT_EQ(element_as_double(Tensor::from_values<int64_t>(DType::i64, {1}, v), 0), -5.0);
}

TEST(Tensor, StringTensors) {
  Tensor s = Tensor::from_strings({2}, {"a", "bc"});
  EXPECT_EQ(s.numel(), 2);
  EXPECT_EQ(s.nbytes(), 0);
  EXPECT_EQ(s.strings()[1], "bc");
  EXPECT_THROW(Tensor::from_strings({3}, {"a"}), Error);
}

}  // namespace
}  // namespace mcompress
