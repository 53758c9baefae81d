// consumer MODEL OUT: quantizes MODEL's weights to int8 with the mcompress libraries and writes
// OUT; prints "weights BEFORE -> AFTER bytes, N tensors changed".
#include <cstdio>
#include <exception>

#include "mcompress/onnx/model_io.h"
#include "mcompress/passes/quantize.h"
#include "mcompress/support/error.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: consumer MODEL OUT\n");
    return 1;
  }
  try {
    mcompress::ir::Model model = mcompress::onnxio::load_model(argv[1]);
    mcompress::passes::QuantizeOptions options;
    options.validate();
    mcompress::passes::PassResult result = mcompress::passes::quantize_weights(model, options);
    long long before = 0, after = 0;
    for (const auto& change : result.changes) {
      before += change.bytes_before;
      after += change.bytes_after;
    }
    mcompress::onnxio::save_model(std::move(model), argv[2], {});
    std::printf("weights %lld -> %lld bytes, %zu tensors changed\n", before, after, result.changes.size());
    return 0;
  } catch (const mcompress::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "internal error: %s\n", e.what());
    return 5;
  }
}
