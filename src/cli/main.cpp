// mcompress: the command line. Subcommands register themselves; this file owns the one catch
// ladder that turns errors into the exit codes of CLI.md.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <new>

#include "common.h"
#include "mcompress/support/error.h"
#include "mcompress/support/file_io.h"
#include "mcompress/support/log.h"

int main(int argc, char** argv) {
  using mcompress::ExitCode;
  // Activations of tens of MB are allocated and freed on every forward pass; served from the heap
  // they reuse pages, where fresh mmaps would page-fault them in each time (25% of a ViT batch).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  // Ctrl-C, or a scheduler's SIGTERM while a model is being written, leaves no temporary behind.
  mcompress::remove_temporaries_on_signal();
  CLI::App app{"mcompress: compress ONNX models (quantize, prune)", "mcompress"};
  app.set_version_flag("--version", MCOMPRESS_VERSION);
  app.require_subcommand(1);
  int verbose = 0;
  bool quiet = false;
  app.add_flag("-v,--verbose", verbose, "More logging (repeatable)");
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors");
  app.parse_complete_callback([&] { mcompress::log::init(quiet ? -1 : verbose); });
  mcompress::cli::register_inspect(app);
  mcompress::cli::register_convert(app);
  mcompress::cli::register_infer(app);
  mcompress::cli::register_eval(app);
  mcompress::cli::register_quantize(app);
  mcompress::cli::register_prune(app);
  mcompress::cli::register_batch(app);

  try {
    app.parse(argc, argv);
    return 0;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return static_cast<int>(ExitCode::usage);
  } catch (const mcompress::Error& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return static_cast<int>(e.code());
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory" << std::endl;
    return static_cast<int>(ExitCode::internal);
  } catch (const std::exception& e) {
    std::cerr << "internal error: " << e.what() << " (please report this)" << std::endl;
    return static_cast<int>(ExitCode::internal);
  }
}
