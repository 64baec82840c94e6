// `qkgeom inspect --model DIR... [--json]`: the model configuration as qkgeom resolves it
// (transformers' defaults for keys config.json leaves out, HF's precedence between
// spellings), with each layer type's RoPE inverse frequencies, so it can be checked
// against transformers.AutoConfig and the model's rotary embedding.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <ATen/ATen.h>

#include "checkpoint.hpp"
#include "commands.hpp"
#include "engine_commands.hpp"
#include "hf_config.hpp"
#include "input_error.hpp"
#include "json_output.hpp"
#include "option_checks.hpp"
#include "rope.hpp"
#include "run_record.hpp"

namespace qk {

namespace {

const char* rope_type_name(RopeType t) {
  switch (t) {
    case RopeType::Linear:
      return "linear";
    case RopeType::Dynamic:
      return "dynamic";
    case RopeType::LongRope:
      return "longrope";
    case RopeType::Llama3:
      return "llama3";
    case RopeType::Yarn:
      return "yarn";
    default:
      return "default";
  }
}

// One RoPE as resolved, with its f32 inverse frequencies [head_dim / 2] and the factor
// cos and sin are scaled by (HF's attention_scaling). Dynamic and longrope frequencies
// are a fresh model's initial ones (prompts longer than the context get others).
nlohmann::json rope_json(const RopeConfig& r, int64_t head_dim) {
  nlohmann::json j{{"rope_type", rope_type_name(r.type)}, {"rope_theta", r.theta}};
  if (r.type != RopeType::Default) j["factor"] = r.factor;
  if (r.type == RopeType::Llama3)
    j.update({{"low_freq_factor", r.low_freq_factor}, {"high_freq_factor", r.high_freq_factor}});
  if (r.type == RopeType::Llama3 || r.type == RopeType::Yarn || r.type == RopeType::LongRope)
    j["original_max_position_embeddings"] = r.original_max_position_embeddings;
  if (r.type == RopeType::LongRope)
    j.update({{"short_factor", r.short_factor}, {"long_factor", r.long_factor}});
  if (r.type == RopeType::Yarn)
    j.update({{"beta_fast", r.beta_fast}, {"beta_slow", r.beta_slow}, {"truncate", r.truncate}});
  j["attention_scaling"] = r.attention_factor;
  const at::Tensor f = rope_inv_freq(r, head_dim).contiguous();
  j["inv_freq"] = std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
  return j;
}

nlohmann::json config_json(const ModelConfig& c, const nlohmann::json& dtype) {
  const bool bert = c.arch == Architecture::Bert;
  const bool layer_norm = c.arch == Architecture::Gpt2 || c.arch == Architecture::GptNeoX;
  nlohmann::json j{{"config", c.path},
                   {"model_type", c.model_type},
                   {"hidden_size", c.hidden_size},
                   {"num_hidden_layers", c.num_layers},
                   {"num_attention_heads", c.num_heads},
                   {"num_key_value_heads", c.num_kv_heads},
                   {"head_dim", c.head_dim},
                   {"intermediate_size", c.intermediate_size},
                   {"vocab_size", c.vocab_size},
                   {"max_position_embeddings", c.max_position_embeddings},
                   {bert || layer_norm ? "layer_norm_eps" : "rms_norm_eps", c.norm_eps},
                   {"hidden_act", c.hidden_act},
                   {"attention_bias", c.attention_bias},
                   {"o_proj_bias", c.o_bias},
                   {"mlp_bias", c.mlp_bias},
                   {"qk_norm", c.qk_norm},
                   {"dtype", dtype},
                   {"dtype_declared", c.dtype_declared}};
  j["attention_scale"] = attention_scale(c, 0);
  if (c.arch == Architecture::Gemma2) {  // soft-capping caps; null: none
    auto cap = [](double v) { return v > 0 ? nlohmann::json(v) : nlohmann::json(nullptr); };
    j["attn_logit_softcapping"] = cap(c.attn_logit_softcapping);
    j["final_logit_softcapping"] = cap(c.final_logit_softcapping);
  }
  if (c.scale_by_inverse_layer) {  // GPT-2: per layer
    std::vector<double> scales;
    for (int64_t l = 0; l < c.num_layers; ++l) scales.push_back(attention_scale(c, l));
    j["layer_attention_scale"] = scales;
  }
  if (bert) {
    j["attention"] = "full";
    return j;
  }
  std::vector<std::string> types;
  std::vector<nlohmann::json> windows;
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const bool slides = c.sliding_window && c.sliding_layers[static_cast<size_t>(i)];
    types.push_back(slides ? "sliding_attention" : "full_attention");
    windows.push_back(slides ? nlohmann::json(*c.sliding_window) : nlohmann::json(nullptr));
  }
  j["attention"] = "causal";
  j["layer_types"] = types;
  j["layer_window"] = windows;
  if (c.arch == Architecture::Gpt2) return j;  // learned positions, no RoPE
  const bool partial = c.arch == Architecture::GptNeoX || c.arch == Architecture::Phi3;
  const int64_t rotary = partial ? c.rotary_dim : c.head_dim;
  if (partial) j["rotary_dim"] = rotary;
  j["rope_parameters"]["full_attention"] = rope_json(c.rope, rotary);
  if (c.arch == Architecture::Gemma3Text)
    j["rope_parameters"]["sliding_attention"] = rope_json(c.rope_local, c.head_dim);
  return j;
}

// config.json's spelling of a dtype.
const char* hf_dtype_name(DType t) {
  switch (t) {
    case DType::BF16:
      return "bfloat16";
    case DType::F16:
      return "float16";
    default:
      return "float32";
  }
}

// One model's resolved configuration; with --json, one line.
// A directory without weights is inspected from config.json alone; its dtype is then
// null unless config.json declares one.
void inspect_one(const std::string& dir, bool json) {
  ModelConfig c = load_hf_config(dir);
  nlohmann::json dtype = hf_dtype_name(c.dtype);
  if (!c.dtype_declared) {
    const bool weights = std::ifstream(dir + "/model.safetensors").good() ||
                         std::ifstream(dir + "/model.safetensors.index.json").good();
    dtype = weights ? nlohmann::json(hf_dtype_name(Checkpoint(dir).first_float_dtype())) : nullptr;
  }
  nlohmann::json j = config_json(c, dtype);
  j["model"] = dir;
  if (json) j["engine"] = engine_json();
  if (!json)
    for (auto& [type, r] : j["rope_parameters"].items()) r.erase("inv_freq");
  std::cout << json_text(j, json ? -1 : 2) << "\n";
}

// Each model in turn; one that cannot be read is reported (stderr, and with --json a
// line {"model", "error", "exit_code"}) and the others still inspected. Exit: the worst.
int run_inspect(const std::vector<std::string>& dirs, bool json) {
  int worst = kExitOk;
  for (const std::string& dir : dirs) {
    try {
      inspect_one(dir, json);
    } catch (const InputError& e) {
      std::cerr << "qkgeom: error: " << e.what() << "\n";
      if (json)
        std::cout << json_text({{"model", dir}, {"error", e.what()}, {"exit_code", kExitBadInput}}) << "\n";
      worst = std::max<int>(worst, kExitBadInput);
    }
  }
  return std::cout.good() ? worst : kExitRuntime;
}

// The config.json each of `dirs` names: DIR/config.json for a directory, else the path itself
// (load_hf_config reads either).
std::vector<std::string> config_files(const std::vector<std::string>& dirs) {
  std::vector<std::string> out;
  for (const std::string& d : dirs) {
    std::error_code ec;
    out.push_back(std::filesystem::is_directory(d, ec) ? d + "/config.json" : d);
  }
  return out;
}

}  // namespace

Action add_inspect_command(CLI::App& app) {
  auto dirs = std::make_shared<std::vector<std::string>>();
  auto json = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("inspect", engine_command_description("inspect"));
  sub->add_option("--model", *dirs, "Hugging Face model directory (repeat for several)")->required();
  sub->add_flag("--json", *json,
                "one JSON object per model and line, with each RoPE's f32 inverse frequencies");
  return [dirs, json] {
    refuse_repeated_paths(*dirs, "--model", config_files(*dirs));
    return run_inspect(*dirs, *json);
  };
}

}  // namespace qk
