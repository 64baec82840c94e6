// `qkgeom capture --model DIR (--prompt TEXT | --ids 1,2,3) --out FILE.safetensors
// [--dtype bf16|f16|f32] [--device auto|cpu|cuda[:N]]`: one prompt's prefill; every layer's post-RoPE q, k and v
// written as an f32 snapshot (docs/snapshot-format.md) that `qkgeom score` reads.
#include <algorithm>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.hpp"
#include "prompt_input.hpp"

#if defined(QKGEOM_WITH_TORCH)
#include "decoder.hpp"
#include "safetensors_writer.hpp"
#endif

namespace qk {

namespace {

struct CaptureArgs {
  std::string model;
  std::string prompt;
  std::string ids;
  std::string out;
  std::string dtype;
  std::string device = "auto";
};

int run_capture(const CaptureArgs& a) {
  const std::vector<int64_t> ids = prompt_ids(a.model, a.prompt, a.ids);
#if defined(QKGEOM_WITH_TORCH)
  TransformerModel model(a.model, RuntimeOptions{a.device, a.dtype});
  const Snapshot s = capture_snapshot(model, ids);
  auto shape = [](const Tensor4f& t) { return std::vector<int64_t>(t.shape.begin(), t.shape.end()); };
  write_safetensors(a.out, {f32_tensor("k", shape(s.k), s.k.data),
                            f32_tensor("v", shape(*s.v), s.v->data),
                            f32_tensor("q", shape(*s.q), s.q->data)});
  std::cerr << "qkgeom capture: " << s.k.layers() << " layers, " << ids.size() << " tokens -> "
            << a.out << "\n";
  return kExitOk;
#else
  (void)ids;
  throw std::runtime_error("capture: this build has no libtorch (QKGEOM_WITH_TORCH=OFF)");
#endif
}

}  // namespace

Action add_capture_command(CLI::App& app) {
  auto args = std::make_shared<CaptureArgs>();
  CLI::App* sub = app.add_subcommand("capture", "One prompt's post-RoPE q/k/v of every layer -> snapshot file");
  sub->add_option("--model", args->model, "Hugging Face model directory (config.json, safetensors)")
      ->required();
  auto* prompt = sub->add_option("--prompt", args->prompt,
                                 "prompt text, tokenized with the model's tokenizer.json");
  auto* ids = sub->add_option("--ids", args->ids, "pre-tokenized prompt: token ids, comma-separated (e.g. 1,2,3)");
  prompt->excludes(ids);
  sub->callback([prompt, ids] {
    if (prompt->count() + ids->count() != 1)
      throw CLI::ValidationError("capture", "give the prompt as --prompt TEXT or --ids LIST");
  });
  sub->add_option("--out", args->out, "output snapshot (.safetensors)")->required();
  sub->add_option("--dtype", args->dtype, "compute dtype: bf16, f16 or f32 (default: the checkpoint's)");
  sub->add_option("--device", args->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  return [args] { return run_capture(*args); };
}

}  // namespace qk
