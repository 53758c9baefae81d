#pragma once
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <memory>
#include <string>

#include "mcompress/support/file_io.h"

namespace mcompress::onnxio {

class ExternalWriter {
 public:
  ExternalWriter(const std::filesystem::path& data_path, int64_t threshold_bytes);
  // Appends `bytes` to the data file and points `proto` at them. Returns false (and writes
  // nothing) for tensors under the threshold.
  bool maybe_write(const std::string& bytes, onnx::TensorProto& proto);
  int64_t bytes_written() const { return offset_; }
  // Puts the data file in place; with nothing written there is no file at all.
  void commit() {
    if (offset_ > 0) file_.commit();
  }

 private:
  AtomicFile file_;
  std::string location_;
  int64_t threshold_;
  int64_t offset_ = 0;
};

}  // namespace mcompress::onnxio
