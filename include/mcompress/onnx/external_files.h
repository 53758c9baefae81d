#pragma once
// Which files a model's tensors live in, without loading the tensors (content hashes of a model
// must cover its external data).
#include <filesystem>
#include <vector>

namespace mcompress::onnxio {

// The external data files MODEL's tensors name (resolved beside it; those that exist), read from
// the ModelProto only. Empty for an unreadable model: loading it reports the error.
std::vector<std::filesystem::path> external_data_files(const std::filesystem::path& path);

}  // namespace mcompress::onnxio
