#include "snapshot_capture.hpp"

#include <chrono>
#include <stdexcept>

#include "attn/model_attention.hpp"
#include "attn/snapshot_attention.hpp"
#include "bo/gpu_stats.hpp"
#include "command_line.hpp"
#include "run_record.hpp"

#if defined(QKGEOM_WITH_TORCH)
#include "decoder.hpp"
#endif

namespace qk {

#if defined(QKGEOM_WITH_TORCH)
namespace {

std::string compute_dtype_name(c10::ScalarType t) {
  if (t == at::kBFloat16) return "bf16";
  if (t == at::kHalf) return "f16";
  return "f32";
}

// The snapshot's metadata: the store's engine and model attributes, the run (dtype,
// device, token count, time) and the attention options (docs/snapshot-format.md).
std::map<std::string, std::string> capture_metadata(const TransformerModel& model,
                                                    const std::string& model_dir, size_t tokens,
                                                    const AttentionStatsOptions& attn) {
  std::map<std::string, std::string> m = attention_metadata(attn, model.config().num_layers);
  for (const auto& [key, value] : engine_model_attrs(command_line(), model_dir)) m[key] = value;
  const c10::Device dev = model.device();
  m["kind"] = "qkgeom-snapshot";
  m["schema_version"] = "1";
  m["model_type"] = model.config().model_type;
  m["dtype"] = compute_dtype_name(model.dtype());
  m["device"] = dev.is_cuda() ? "cuda:" + std::to_string(dev.index()) : "cpu";
  m["gpu_name"] = dev.is_cuda() ? gpu_device_name(dev.index()) : "";
  m["tokens"] = std::to_string(tokens);
  m["created_at"] = utc_now_iso8601();
  return m;
}

}  // namespace

PromptCapture capture_prompt(const std::string& model_dir, const std::vector<int64_t>& ids,
                             const std::string& device, const std::string& dtype) {
  TransformerModel model(model_dir, RuntimeOptions{device, dtype});
  PromptCapture out;
  const auto t0 = std::chrono::steady_clock::now();
  out.snap = capture_snapshot(model, ids);
  out.prefill_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  out.attn = attention_options_for(model.config(), device);
  out.snap.metadata = capture_metadata(model, model_dir, ids.size(), out.attn);
  return out;
}

#else

PromptCapture capture_prompt(const std::string&, const std::vector<int64_t>&, const std::string&,
                             const std::string&) {
  throw std::runtime_error("this build has no libtorch (QKGEOM_WITH_TORCH=OFF)");
}

#endif

}  // namespace qk
