// `qkgeom capture --model DIR (--prompt TEXT | --ids 1,2,3) --out FILE.safetensors|FILE.h5
// [--dtype bf16|f16|f32] [--device auto|cpu|cuda[:N]]`: one prompt's prefill; every layer's
// post-RoPE q, k and v written as an f32 snapshot with the model's attention masks,
// windows and scale and the run's provenance (docs/snapshot-format.md), which
// `qkgeom score --snapshot` reads.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "bo/backend.hpp"
#include "commands.hpp"
#include "option_checks.hpp"
#include "engine_commands.hpp"
#include "finite_check.hpp"
#include "output_path.hpp"
#include "prompt_input.hpp"
#include "snapshot_capture.hpp"
#include "threads_option.hpp"

namespace qk {

namespace {

struct CaptureArgs {
  std::string model;
  std::string prompt;
  std::string ids;
  std::string ids_file;
  std::string out;
  std::string dtype;
  std::string device = "auto";
  int threads = 0;  // --threads (0: the default)
  bool force = false;
};

int run_capture(const CaptureArgs& a) {
  snapshot_format_for(a.out);  // an unknown extension is a usage error, before any work
  check_new_output(a.out, a.force);
  check_not_a_model_file(a.out, a.model);
  resolve_context(a.device, a.threads);
  const std::vector<int64_t> ids = prompt_ids(a.model, a.prompt, a.ids, a.ids_file);
  const PromptCapture c = capture_prompt(a.model, ids, a.device, a.dtype);
  check_capture_finite(c.snap, a.model);  // exit 3 / 4 naming layer, head, q/k/v and cause
  save_snapshot(c.snap, a.out);
  std::cerr << "qkgeom capture: " << c.snap.k.layers() << " layers, " << ids.size() << " tokens -> " << a.out
            << "\n";
  return kExitOk;
}

}  // namespace

Action add_capture_command(CLI::App& app) {
  auto args = std::make_shared<CaptureArgs>();
  CLI::App* sub = app.add_subcommand("capture", engine_command_description("capture"));
  sub->add_option("--model", args->model, "Hugging Face model directory (config.json, safetensors)")
      ->required();
  auto* prompt =
      sub->add_option("--prompt", args->prompt, "prompt text, tokenized with the model's tokenizer.json");
  const IdsOptions ids = add_ids_options(sub, args->ids, args->ids_file, "");
  prompt->excludes(ids.list)->excludes(ids.file);
  sub->callback([prompt, ids] {
    if (prompt->count() + ids.list->count() + ids.file->count() != 1)
      throw CLI::ValidationError("capture",
                                 "give the prompt as --prompt TEXT, --ids LIST or --ids-file FILE");
  });
  sub->add_option("--out", args->out, "output snapshot: .safetensors, or .h5 / .hdf5 for HDF5")->required();
  sub->add_option("--dtype", args->dtype, "compute dtype: bf16, f16 or f32 (default: the checkpoint's)")
      ->check(compute_dtype());
  sub->add_option("--device", args->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  add_threads_option(sub, args->threads);
  sub->add_flag("--force", args->force, "replace --out when it exists (atomically)");
  return [args] { return run_capture(*args); };
}

}  // namespace qk
