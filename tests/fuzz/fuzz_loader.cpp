// libFuzzer target on the model loader: any bytes must give a model or an mcompress::Error,
// never a crash, hang or sanitizer report. External data resolves against an empty folder.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mcompress/onnx/model_io.h"
#include "mcompress/support/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    mcompress::ir::Model model = mcompress::onnxio::load_model_from_bytes(bytes, "/nonexistent-fuzz-dir", "fuzz");
    // What loads must also serialize again.
    (void)mcompress::onnxio::serialize_model(model);
  } catch (const mcompress::Error&) {
  }
  return 0;
}
