// `qkgeom capture --model DIR --ids 1,2,3 --out FILE.safetensors [--dtype bf16|f16|f32]
// [--device auto|cpu|cuda[:N]]`: one prompt's prefill; every layer's post-RoPE q, k and v
// written as an f32 snapshot (docs/snapshot-format.md) that `qkgeom score` reads.
#include <algorithm>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.hpp"

#if defined(QKGEOM_WITH_TORCH)
#include "decoder.hpp"
#include "safetensors_writer.hpp"
#endif

namespace qk {

namespace {

struct CaptureArgs {
  std::string model;
  std::string ids;
  std::string out;
  std::string dtype;
  std::string device = "auto";
};

// "1,2,3" -> {1, 2, 3}; throws std::invalid_argument on anything else.
std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  size_t at = 0;
  while (at <= text.size()) {
    const size_t comma = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, comma - at);
    if (item.empty() || item.size() > 18 || item.find_first_not_of("0123456789") != std::string::npos)
      throw std::invalid_argument("--ids: '" + text + "' is not a comma-separated list of token ids");
    ids.push_back(std::stoll(item));
    at = comma + 1;
  }
  return ids;
}

int run_capture(const CaptureArgs& a) {
  const std::vector<int64_t> ids = parse_ids(a.ids);
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
  sub->add_option("--ids", args->ids, "token ids, comma-separated (e.g. 1,2,3)")->required();
  sub->add_option("--out", args->out, "output snapshot (.safetensors)")->required();
  sub->add_option("--dtype", args->dtype, "compute dtype: bf16, f16 or f32 (default: the checkpoint's)");
  sub->add_option("--device", args->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  return [args] { return run_capture(*args); };
}

}  // namespace qk
