#pragma once
// Array files: NumPy .npy / .npz (stored and deflated), IDX (plain or .gz), one TensorProto
// .pb per file. Errors name the file (exit code 2).
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "mcompress/tensor/tensor.h"

namespace mcompress::data {

using NamedArrays = std::vector<std::pair<std::string, Tensor>>;

Tensor read_npy(const std::filesystem::path& path);
Tensor parse_npy(std::string_view bytes, const std::string& where);
std::string format_npy(const Tensor& t);
void write_npy(const std::filesystem::path& path, const Tensor& t);

// Members in file order, names without ".npy".
NamedArrays read_npz(const std::filesystem::path& path);
// Stored (uncompressed), deterministic: fixed timestamps, members in the given order. Atomic.
void write_npz(const std::filesystem::path& path, const std::vector<std::pair<std::string, const Tensor*>>& arrays);

// IDX (http://yann.lecun.com/exdb/mnist/ format), gzip-compressed or not.
Tensor read_idx(const std::filesystem::path& path);

}  // namespace mcompress::data
