#include "hf_config.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "hf_defaults.hpp"
#include "input_error.hpp"
#include "json_limits.hpp"

namespace qk {

namespace {

using nlohmann::json;

struct Known {
  const char* model_type;
  Architecture arch;
};

constexpr Known kKnown[] = {
    {"llama", Architecture::Llama},
    {"mistral", Architecture::Mistral},
    {"qwen2", Architecture::Qwen2},
    {"qwen3", Architecture::Qwen3},
    {"gemma3_text", Architecture::Gemma3Text},
    {"bert", Architecture::Bert},
    {"gpt2", Architecture::Gpt2},
    {"gpt_neox", Architecture::GptNeoX},
    {"gemma2", Architecture::Gemma2},
    {"olmo2", Architecture::Olmo2},
    {"phi3", Architecture::Phi3},
};

// HF class names (architectures[0]) of the same families, by prefix.
constexpr Known kClassPrefixes[] = {
    {"Llama", Architecture::Llama},
    {"Mistral", Architecture::Mistral},
    {"Qwen2", Architecture::Qwen2},
    {"Qwen3", Architecture::Qwen3},
    {"Gemma3ForCausalLM", Architecture::Gemma3Text},
    {"Bert", Architecture::Bert},
    {"GPT2", Architecture::Gpt2},
    {"GPTNeoXForCausalLM", Architecture::GptNeoX},
    {"GPTNeoXModel", Architecture::GptNeoX},
    {"Gemma2ForCausalLM", Architecture::Gemma2},
    {"Gemma2Model", Architecture::Gemma2},
    {"Olmo2ForCausalLM", Architecture::Olmo2},
    {"Olmo2Model", Architecture::Olmo2},
    {"Phi3ForCausalLM", Architecture::Phi3},
    {"Phi3Model", Architecture::Phi3},
};

class Reader {
 public:
  Reader(const json& j, std::string path) : j_(j), path_(std::move(path)) {}

  InputError error(const std::string& field, const std::string& what) const {
    return InputError(path_, "field '" + field + "': " + what);
  }
  bool present(const json& obj, const std::string& key) const {
    return obj.contains(key) && !obj.at(key).is_null();
  }
  bool has(const std::string& key) const { return present(j_, key); }

  int64_t integer(const json& obj, const std::string& key, const std::string& field) const {
    if (!present(obj, key)) throw error(field, "missing");
    const json& v = obj.at(key);
    if (!v.is_number_integer()) throw error(field, "is not an integer");
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      throw error(field, "is out of range");
    return v.get<int64_t>();
  }
  int64_t integer(const std::string& key) const { return integer(j_, key, key); }
  int64_t positive(const std::string& key) const {
    const int64_t v = integer(key);
    if (v <= 0) throw error(key, "must be positive, got " + std::to_string(v));
    return v;
  }
  int64_t positive_or(const std::string& key, int64_t fallback) const {
    return has(key) ? positive(key) : fallback;
  }
  double number(const json& obj, const std::string& key, const std::string& field) const {
    if (!present(obj, key)) throw error(field, "missing");
    const json& v = obj.at(key);
    if (!v.is_number()) throw error(field, "is not a number");
    return v.get<double>();
  }
  double number(const std::string& key) const { return number(j_, key, key); }
  bool boolean_or(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!j_.at(key).is_boolean()) throw error(key, "is not a boolean");
    return j_.at(key).get<bool>();
  }
  std::string string_or(const std::string& key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!j_.at(key).is_string()) throw error(key, "is not a string");
    return j_.at(key).get<std::string>();
  }
  const json& root() const { return j_; }

 private:
  const json& j_;
  std::string path_;
};

Architecture pick_architecture(const Reader& r, std::string& model_type) {
  const std::string list = supported_model_types();
  if (r.has("model_type")) {
    model_type = r.string_or("model_type", "");
    for (const auto& k : kKnown)
      if (model_type == k.model_type) return k.arch;
    throw r.error("model_type", "unsupported architecture '" + model_type + "'; supported: " + list);
  }
  if (!r.has("architectures")) throw r.error("model_type", "missing (and no 'architectures')");
  const json& a = r.root().at("architectures");
  if (!a.is_array() || a.empty() || !a[0].is_string())
    throw r.error("architectures", "is not a non-empty list of strings");
  const std::string cls = a[0].get<std::string>();
  for (const auto& k : kClassPrefixes)
    if (cls.rfind(k.model_type, 0) == 0) {
      for (const auto& m : kKnown)
        if (m.arch == k.arch) model_type = m.model_type;
      return k.arch;
    }
  throw r.error("architectures", "unsupported architecture '" + cls + "'; supported: " + list);
}

RopeType rope_type_from(const Reader& r, const std::string& field, const std::string& name) {
  if (name == "default") return RopeType::Default;
  if (name == "linear") return RopeType::Linear;
  if (name == "dynamic") return RopeType::Dynamic;
  if (name == "llama3") return RopeType::Llama3;
  if (name == "yarn") return RopeType::Yarn;
  if (name == "longrope") return RopeType::LongRope;
  throw r.error(field, "unsupported rope type '" + name +
                           "'; supported: default, linear, dynamic, llama3, yarn, longrope");
}

// The pretraining context of llama3, yarn and longrope: original_max_position_embeddings,
// else max_position_embeddings (standardize_rope_params); InputError unless positive.
int64_t original_positions(const Reader& r, const json& o, const std::string& field, int64_t max_positions) {
  const std::string key = "original_max_position_embeddings";
  const int64_t v = r.present(o, key) ? r.integer(o, key, field + "." + key) : max_positions;
  if (v < 1) throw r.error(field + "." + key, "must be positive");
  return v;
}

// A JSON list of numbers; InputError naming `field` otherwise.
std::vector<double> number_list(const Reader& r, const json& o, const std::string& key,
                                const std::string& field) {
  if (!r.present(o, key)) throw r.error(field, "missing");
  const json& v = o.at(key);
  if (!v.is_array()) throw r.error(field, "is not a list of numbers");
  std::vector<double> out;
  for (const json& x : v) {
    if (!x.is_number()) throw r.error(field, "is not a list of numbers");
    out.push_back(x.get<double>());
  }
  return out;
}

// longrope (transformers' _compute_longrope_parameters): short_factor, long_factor, the
// pretraining context, factor (default max_positions / original) and attention_factor
// (default sqrt(1 + ln factor / ln original) when factor > 1, else 1).
void parse_longrope(const Reader& r, const json& o, const std::string& field, int64_t max_positions,
                    RopeConfig& rc) {
  rc.short_factor = number_list(r, o, "short_factor", field + ".short_factor");
  rc.long_factor = number_list(r, o, "long_factor", field + ".long_factor");
  rc.original_max_position_embeddings = original_positions(r, o, field, max_positions);
  const double orig = static_cast<double>(rc.original_max_position_embeddings);
  rc.factor = r.present(o, "factor") ? r.number(o, "factor", field + ".factor")
                                     : static_cast<double>(max_positions) / orig;
  if (r.present(o, "attention_factor")) {
    rc.attention_factor = r.number(o, "attention_factor", field + ".attention_factor");
  } else if (rc.factor > 1.0) {
    if (rc.original_max_position_embeddings < 2)
      throw r.error(field + ".original_max_position_embeddings",
                    "must exceed 1 to derive the default attention_factor");
    rc.attention_factor = std::sqrt(1 + std::log(rc.factor) / std::log(orig));
  }
}

// YaRN's attention factor: attention_factor, else from mscale / mscale_all_dim (both
// non-zero), else 0.1 ln(factor) + 1 (transformers' _compute_yarn_parameters).
double yarn_attention_factor(const Reader& r, const json& o, const std::string& field, double factor) {
  auto get_mscale = [](double scale, double m) { return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; };
  if (r.present(o, "attention_factor")) return r.number(o, "attention_factor", field + ".attention_factor");
  const double ms = r.present(o, "mscale") ? r.number(o, "mscale", field + ".mscale") : 0.0;
  const double ms_all =
      r.present(o, "mscale_all_dim") ? r.number(o, "mscale_all_dim", field + ".mscale_all_dim") : 0.0;
  if (ms != 0 && ms_all != 0) return get_mscale(factor, ms) / get_mscale(factor, ms_all);
  return get_mscale(factor, 1.0);
}

// Reads one standardized RoPE parameter object (rope_type and rope_theta filled in, as
// RotaryEmbeddingConfigMixin.standardize_rope_params leaves it). `truncate` is YaRN's
// flag, which HF reads from the top-level rope_parameters.
RopeConfig parse_rope_object(const Reader& r, const json& o, const std::string& field, int64_t max_positions,
                             bool truncate) {
  RopeConfig rc;
  rc.theta = r.number(o, "rope_theta", field + ".rope_theta");
  if (!o.at("rope_type").is_string()) throw r.error(field + ".rope_type", "is not a string");
  rc.type = rope_type_from(r, field + ".rope_type", o.at("rope_type").get<std::string>());
  if (r.present(o, "partial_rotary_factor") && rc.type != RopeType::Default &&
      r.number(o, "partial_rotary_factor", field + ".partial_rotary_factor") != 1.0)
    throw r.error(field + ".partial_rotary_factor", "partial rotary embeddings are not supported");
  auto orig = [&] { return original_positions(r, o, field, max_positions); };
  if (rc.type == RopeType::Linear || rc.type == RopeType::Llama3 || rc.type == RopeType::Dynamic)
    rc.factor = r.number(o, "factor", field + ".factor");
  if (rc.type == RopeType::Dynamic) rc.max_position_embeddings = max_positions;
  if (rc.type == RopeType::LongRope) parse_longrope(r, o, field, max_positions, rc);
  if (rc.type == RopeType::Llama3) {
    rc.low_freq_factor = r.number(o, "low_freq_factor", field + ".low_freq_factor");
    rc.high_freq_factor = r.number(o, "high_freq_factor", field + ".high_freq_factor");
    rc.original_max_position_embeddings = orig();
    if (rc.high_freq_factor <= rc.low_freq_factor)
      throw r.error(field + ".high_freq_factor", "must exceed low_freq_factor");
  }
  if (rc.type == RopeType::Yarn) {  // as transformers' _compute_yarn_parameters
    rc.original_max_position_embeddings = orig();
    rc.factor = r.present(o, "factor") ? r.number(o, "factor", field + ".factor")
                                       : static_cast<double>(max_positions) /
                                             static_cast<double>(rc.original_max_position_embeddings);
    // `beta_fast or 32`, `beta_slow or 1`: zero means the default too.
    if (r.present(o, "beta_fast") && r.number(o, "beta_fast", field + ".beta_fast") != 0)
      rc.beta_fast = r.number(o, "beta_fast", field + ".beta_fast");
    if (r.present(o, "beta_slow") && r.number(o, "beta_slow", field + ".beta_slow") != 0)
      rc.beta_slow = r.number(o, "beta_slow", field + ".beta_slow");
    rc.truncate = truncate;
    rc.attention_factor = yarn_attention_factor(r, o, field, rc.factor);
  }
  if (!(rc.theta > 0)) throw r.error(field + ".rope_theta", "must be positive");
  if (!(rc.factor > 0)) throw r.error(field + ".factor", "must be positive");
  return rc;
}

// `o`.setdefault(key, value) for a JSON object.
void setdefault(json& o, const char* key, const json& value) {
  if (!o.contains(key)) o[key] = value;
}

// standardize_rope_params on one object: rope_type from `type`, else "default"; theta.
void standardize(json& o, double theta) {
  setdefault(o, "rope_type", o.contains("type") ? o.at("type") : json("default"));
  setdefault(o, "rope_theta", theta);
}

// The top-level rope_theta of config.json, else the architecture's default_theta.
double top_theta(const Reader& r, Architecture arch) {
  return r.has("rope_theta") ? r.number("rope_theta") : hf_default_theta(arch, false);
}

// yarn's `truncate`, read from the top-level rope parameters (default true).
bool yarn_truncate(const Reader& r, const json& params, const std::string& field) {
  if (!params.is_object() || !r.present(params, "truncate")) return true;
  if (!params.at("truncate").is_boolean()) throw r.error(field + ".truncate", "is not a boolean");
  return params.at("truncate").get<bool>();
}

// InputError unless `rc` fits `dim` rotary dims: longrope's factor lists hold dim / 2
// entries each, and dynamic needs dim > 2 (its theta exponent is dim / (dim - 2)).
void check_rope_dims(const Reader& r, const std::string& field, const RopeConfig& rc, int64_t dim) {
  const size_t half = static_cast<size_t>(dim / 2);
  for (const auto& [name, v] :
       {std::pair{"short_factor", &rc.short_factor}, {"long_factor", &rc.long_factor}})
    if (rc.type == RopeType::LongRope && v->size() != half)
      throw r.error(field + "." + name, "has " + std::to_string(v->size()) + " entries; the " +
                                            std::to_string(dim) + " rotary dims need " +
                                            std::to_string(half));
  if (rc.type == RopeType::Dynamic && dim <= 2)
    throw r.error(field + ".rope_type", "dynamic RoPE needs more than 2 rotary dims");
}

// standardize_rope_params: a top-level original_max_position_embeddings wins over the
// rope object's for llama3, yarn and longrope.
void top_original_positions(const Reader& r, json& p) {
  const std::string type = p.at("rope_type").is_string() ? p.at("rope_type").get<std::string>() : "";
  if ((type == "llama3" || type == "yarn" || type == "longrope") && r.has("original_max_position_embeddings"))
    p["original_max_position_embeddings"] = r.root().at("original_max_position_embeddings");
}

// The field config.json's RoPE is read from: rope_scaling when present and non-empty
// (it wins, as convert_rope_params_to_dict), else rope_parameters.
const char* rope_field(const Reader& r) {
  const json& j = r.root();
  const bool scaling =
      r.has("rope_scaling") && !(j.at("rope_scaling").is_object() && j.at("rope_scaling").empty());
  return scaling ? "rope_scaling" : "rope_parameters";
}

// The RoPE of a decoder other than Gemma 3, resolved as transformers 5.x's
// convert_rope_params_to_dict: rope_scaling (when non-empty) wins over rope_parameters;
// rope_theta in the object, else the top-level rope_theta, else default_theta; a top-level
// original_max_position_embeddings wins for llama3, yarn and longrope. `dim`: the rotary
// dims (head_dim), which longrope's factor lists and dynamic must fit.
RopeConfig parse_rope(const Reader& r, Architecture arch, int64_t max_positions, int64_t dim) {
  const json& j = r.root();
  const char* field = rope_field(r);
  json p = r.has(field) ? j.at(field) : json::object();
  if (!p.is_object()) throw r.error(field, "is not an object");
  for (const char* nested : {"full_attention", "sliding_attention"})
    if (p.contains(nested))
      throw r.error(std::string(field) + "." + nested,
                    "per-layer-type RoPE is not used by " + r.string_or("model_type", "this model"));
  standardize(p, top_theta(r, arch));
  top_original_positions(r, p);
  const RopeConfig rc = parse_rope_object(r, p, field, max_positions, yarn_truncate(r, p, field));
  check_rope_dims(r, field, rc, dim);
  return rc;
}

// Gemma 3's two RoPEs (Gemma3TextConfig.convert_rope_params_to_dict): rope_parameters
// {full_attention, sliding_attention}, each defaulting to {rope_type: default}; a 4.x
// rope_scaling is merged into full_attention; rope_theta (default 1e6) and
// rope_local_base_freq (default 1e4) fill in the two thetas.
void parse_gemma_rope(const Reader& r, ModelConfig& c) {
  const json& j = r.root();
  json p = r.has("rope_parameters") ? j.at("rope_parameters") : json::object();
  if (!p.is_object()) throw r.error("rope_parameters", "is not an object");
  for (const char* key : {"full_attention", "sliding_attention"}) {
    if (!p.contains(key) || p.at(key).is_null()) p[key] = json{{"rope_type", "default"}};
    if (!p.at(key).is_object()) throw r.error(std::string("rope_parameters.") + key, "is not an object");
  }
  if (r.has("rope_scaling")) {
    if (!j.at("rope_scaling").is_object()) throw r.error("rope_scaling", "is not an object");
    p["full_attention"].update(j.at("rope_scaling"));
  }
  standardize(p["full_attention"], top_theta(r, c.arch));
  standardize(p["sliding_attention"], r.has("rope_local_base_freq") ? r.number("rope_local_base_freq")
                                                                    : hf_default_theta(c.arch, true));
  const bool truncate = yarn_truncate(r, p, "rope_parameters");
  c.rope = parse_rope_object(r, p["full_attention"], "rope_parameters.full_attention",
                             c.max_position_embeddings, truncate);
  c.rope_local = parse_rope_object(r, p["sliding_attention"], "rope_parameters.sliding_attention",
                                   c.max_position_embeddings, truncate);
  check_rope_dims(r, "rope_parameters.full_attention", c.rope, c.head_dim);
  check_rope_dims(r, "rope_parameters.sliding_attention", c.rope_local, c.head_dim);
}

DType parse_dtype(const Reader& r) {
  const char* key = r.has("dtype") ? "dtype" : (r.has("torch_dtype") ? "torch_dtype" : nullptr);
  if (!key) return DType::F32;
  const std::string s = r.string_or(key, "");
  if (s == "float32") return DType::F32;
  if (s == "bfloat16") return DType::BF16;
  if (s == "float16") return DType::F16;
  throw r.error(key, "unsupported dtype '" + s + "'; supported: float32, bfloat16, float16");
}

// Per-layer sliding flags from layer_types ("sliding_attention" / "full_attention").
std::vector<bool> parse_layer_types(const Reader& r, int64_t layers) {
  const json& lt = r.root().at("layer_types");
  if (!lt.is_array() || static_cast<int64_t>(lt.size()) != layers)
    throw r.error("layer_types", "is not a list of num_hidden_layers strings");
  std::vector<bool> out;
  for (const json& e : lt) {
    if (!e.is_string()) throw r.error("layer_types", "holds a non-string");
    const std::string s = e.get<std::string>();
    if (s == "sliding_attention")
      out.push_back(true);
    else if (s == "full_attention")
      out.push_back(false);
    else
      throw r.error("layer_types", "unknown layer type '" + s + "'");
  }
  return out;
}

}  // namespace

std::string supported_model_types() {
  std::string s;
  for (const auto& k : kKnown) s += (s.empty() ? "" : ", ") + std::string(k.model_type);
  return s;
}

const char* architecture_name(Architecture a) {
  for (const auto& k : kKnown)
    if (k.arch == a) return k.model_type;
  return "?";
}

namespace {

// Fills the keys config.json leaves out with transformers' defaults for the architecture
// (a key written as null stays null: HF reads it as None).
void apply_defaults(json& j, Architecture arch) {
  for (const auto& [key, value] : hf_config_defaults(arch).items())
    if (!j.contains(key)) j[key] = value;
}

// Shapes: sizes, heads and head_dim (derived from hidden_size / heads where HF derives it).
void parse_shapes(const Reader& r, ModelConfig& c) {
  const bool bert = c.arch == Architecture::Bert;
  c.hidden_size = r.positive("hidden_size");
  c.num_layers = r.positive("num_hidden_layers");
  c.num_heads = r.positive("num_attention_heads");
  c.num_kv_heads = bert ? c.num_heads : r.positive_or("num_key_value_heads", c.num_heads);
  if (r.has("head_dim")) {
    c.head_dim = r.positive("head_dim");
  } else {
    if (c.hidden_size % c.num_heads != 0)
      throw r.error("head_dim", "missing, and hidden_size is not a multiple of num_attention_heads");
    c.head_dim = c.hidden_size / c.num_heads;
  }
  if (c.num_heads % c.num_kv_heads != 0)
    throw r.error("num_key_value_heads", "does not divide num_attention_heads");
  const bool gpt = c.arch == Architecture::Gpt2 || c.arch == Architecture::GptNeoX;
  if (c.head_dim % 2 != 0 && !bert && !gpt) throw r.error("head_dim", "must be even for RoPE");
  c.intermediate_size = r.positive("intermediate_size");
  c.vocab_size = r.positive("vocab_size");
  c.max_position_embeddings = r.positive("max_position_embeddings");
  c.dtype_declared = r.has("dtype") || r.has("torch_dtype");
  c.dtype = parse_dtype(r);
  c.tie_word_embeddings = r.boolean_or("tie_word_embeddings", true);
  c.sliding_layers.assign(static_cast<size_t>(c.num_layers), false);
}

// layer_types when config.json gives them (else empty); InputError when they name sliding
// layers but no window is in use (`in_use`): transformers refuses that config too.
std::vector<bool> windowed_layer_types(const Reader& r, int64_t layers, bool in_use, const char* why) {
  if (!r.has("layer_types")) return {};
  std::vector<bool> types = parse_layer_types(r, layers);
  if (!in_use && std::find(types.begin(), types.end(), true) != types.end())
    throw r.error("layer_types", std::string("names sliding_attention layers, but no window is in use (") +
                                     why + "); transformers refuses this config");
  return types;
}

// Mistral and Phi-3: every layer slides when sliding_window is set. A Mistral config.json
// with a layer_types list is read by transformers' AutoConfig as Ministral's, whose layers
// slide where layer_types says.
void every_layer_windows(const Reader& r, ModelConfig& c, bool has_window) {
  const std::vector<bool> types =
      c.arch == Architecture::Mistral
          ? windowed_layer_types(r, c.num_layers, has_window, "sliding_window null")
          : std::vector<bool>();
  if (!has_window) return;
  c.sliding_window = r.positive("sliding_window");
  if (types.empty())
    c.sliding_layers.assign(static_cast<size_t>(c.num_layers), true);
  else
    c.sliding_layers = types;
}

// Qwen2/3: windows only with use_sliding_window, on the layer_types named, else on the
// layers from max_window_layers on. HF validates layer_types whether or not a window is in use.
void qwen_windows(const Reader& r, ModelConfig& c, bool has_window) {
  const bool in_use = has_window && r.boolean_or("use_sliding_window", false);
  const std::vector<bool> types =
      windowed_layer_types(r, c.num_layers, in_use, "sliding_window null or use_sliding_window false");
  if (!in_use) return;
  c.sliding_window = r.positive("sliding_window");
  if (!types.empty()) {
    c.sliding_layers = types;
    return;
  }
  const int64_t from = r.integer("max_window_layers");
  for (int64_t i = std::max<int64_t>(from, 0); i < c.num_layers; ++i) c.sliding_layers[i] = true;
}

// Which layers slide, and the window: Mistral (unless layer_types) and Phi-3 all layers;
// Qwen2/3 only with use_sliding_window; Gemma 3 from layer_types or every layer but each
// sliding_window_pattern-th; Gemma 2 from layer_types or every other layer (pattern 2).
void parse_windows(const Reader& r, ModelConfig& c) {
  const bool has_window = r.has("sliding_window");
  switch (c.arch) {
    case Architecture::Mistral:
    case Architecture::Phi3:
      every_layer_windows(r, c, has_window);
      break;
    case Architecture::Qwen2:
    case Architecture::Qwen3:
      qwen_windows(r, c, has_window);
      break;
    case Architecture::Gemma2:
    case Architecture::Gemma3Text:
      if (!has_window) throw r.error("sliding_window", "is null; Gemma 2 and 3 need a window");
      c.sliding_window = r.positive("sliding_window");
      if (r.has("layer_types")) {
        c.sliding_layers = parse_layer_types(r, c.num_layers);
      } else {  // Gemma 2: every other layer slides, from the first
        const int64_t pattern = c.arch == Architecture::Gemma2 ? 2 : r.positive("sliding_window_pattern");
        for (int64_t i = 0; i < c.num_layers; ++i) c.sliding_layers[i] = (i + 1) % pattern != 0;
      }
      break;
    default:
      break;
  }
}

// GPT-2's config.json names (n_embd, ...) under the runtime's (hidden_size, ...), as
// GPT2Config.attribute_map reads them; intermediate_size is n_inner, else 4 x n_embd. HF
// derives head_dim from hidden_size / heads and has no GQA: both keys are ignored.
void normalize_gpt2(json& j) {
  for (const auto& [alias, key] : {std::pair<const char*, const char*>{"n_embd", "hidden_size"},
                                   {"n_layer", "num_hidden_layers"},
                                   {"n_head", "num_attention_heads"},
                                   {"n_positions", "max_position_embeddings"}})
    if (j.contains(key) && !j.contains(alias)) j[alias] = j[key];
}

void fill_gpt2_shapes(json& j, const std::string& path) {
  for (const auto& [alias, key] : {std::pair<const char*, const char*>{"n_embd", "hidden_size"},
                                   {"n_layer", "num_hidden_layers"},
                                   {"n_head", "num_attention_heads"},
                                   {"n_positions", "max_position_embeddings"}})
    j[key] = j[alias];
  const Reader r(j, path);
  j["intermediate_size"] = r.has("n_inner") ? json(r.positive("n_inner")) : json(4 * r.positive("n_embd"));
}

// GPT-2 and GPT-NeoX: head_dim = hidden_size / heads exactly (HF raises otherwise).
void check_gpt_heads(const Reader& r, ModelConfig& c) {
  if (c.hidden_size % c.num_heads != 0) throw r.error("num_attention_heads", "does not divide hidden_size");
  c.head_dim = c.hidden_size / c.num_heads;
  c.num_kv_heads = c.num_heads;
}

// GPT-2: LayerNorm eps, activation_function, and the three attention-scale flags.
void parse_gpt2(const Reader& r, ModelConfig& c) {
  check_gpt_heads(r, c);
  c.norm_eps = r.number("layer_norm_epsilon");
  c.hidden_act = r.string_or("activation_function", "");
  c.attention_bias = c.o_bias = c.mlp_bias = true;
  c.scale_attn_weights = r.boolean_or("scale_attn_weights", true);
  c.scale_by_inverse_layer = r.boolean_or("scale_attn_by_inverse_layer_idx", false);
  c.reorder_and_upcast = r.boolean_or("reorder_and_upcast_attn", false);
  if (r.boolean_or("add_cross_attention", false))
    throw r.error("add_cross_attention", "GPT-2 with cross-attention is not supported");
}

// int(head_dim x factor), HF's rotary dims; InputError naming `field` unless factor is in
// [0, 1] and they are even. For an odd count HF's cos and sin span one dim more than it
// (cat(freqs, freqs) of ceil(n / 2) frequencies spaced for n), which qkgeom refuses.
int64_t rotary_dims(const Reader& r, const std::string& field, double factor, int64_t head_dim) {
  if (!(factor >= 0 && factor <= 1)) throw r.error(field, "must be in [0, 1]");
  const auto n = static_cast<int64_t>(static_cast<double>(head_dim) * factor);
  if (n % 2 != 0)
    throw r.error(field, "gives an odd number of rotary dims, " + std::to_string(n) +
                             " (transformers then rotates " + std::to_string(n + 1) +
                             " dims with frequencies spaced for " + std::to_string(n) + "); supported: even");
  return n;
}

// GPT-NeoX's RoPE (GPTNeoXConfig.convert_rope_params_to_dict): rope_scaling, else
// rope_parameters, else {}; rope_theta defaults to rotary_emb_base (else 10000) and
// partial_rotary_factor to rotary_pct (else 0.25); rotary_dim = int(head_dim x factor).
void parse_neox_rope(const Reader& r, ModelConfig& c) {
  const json& j = r.root();
  const char* field = rope_field(r);
  json p = r.has(field) ? j.at(field) : json::object();
  if (!p.is_object()) throw r.error(field, "is not an object");
  setdefault(p, "rope_theta", r.has("rotary_emb_base") ? json(r.number("rotary_emb_base")) : json(10000.0));
  setdefault(p, "partial_rotary_factor", r.has("rotary_pct") ? json(r.number("rotary_pct")) : json(0.25));
  standardize(p, 10000.0);
  top_original_positions(r, p);
  const double f = r.number(p, "partial_rotary_factor", std::string(field) + ".partial_rotary_factor");
  p.erase("partial_rotary_factor");
  c.rope = parse_rope_object(r, p, field, c.max_position_embeddings, yarn_truncate(r, p, field));
  c.rotary_dim = rotary_dims(r, std::string(field) + ".partial_rotary_factor", f, c.head_dim);
  if (c.rotary_dim > 0) check_rope_dims(r, field, c.rope, c.rotary_dim);
}

// GPT-NeoX: LayerNorm eps, activation, biases, parallel residual, partial RoPE.
void parse_neox(const Reader& r, ModelConfig& c) {
  check_gpt_heads(r, c);
  c.norm_eps = r.number("layer_norm_eps");
  c.hidden_act = r.string_or("hidden_act", "");
  c.attention_bias = c.o_bias = r.boolean_or("attention_bias", true);
  c.mlp_bias = true;
  c.parallel_residual = r.boolean_or("use_parallel_residual", true);
  parse_neox_rope(r, c);
}

// Phi-3's RoPE (Phi3Config.convert_rope_params_to_dict): rope_scaling, else
// rope_parameters, else {}; rope_theta defaults to the top-level rope_theta (else 1e4) and
// partial_rotary_factor to the top-level one (else 1); types su and yarn mean longrope.
// HF's Phi3Config.validate_rope accepts default and longrope only; rotary_dim =
// int(head_dim x factor).
void parse_phi3_rope(const Reader& r, ModelConfig& c) {
  const json& j = r.root();
  const bool scaling =
      r.has("rope_scaling") && !(j.at("rope_scaling").is_object() && j.at("rope_scaling").empty());
  const std::string field = scaling ? "rope_scaling" : "rope_parameters";
  json p = r.has(field) ? j.at(field) : json::object();
  if (!p.is_object()) throw r.error(field, "is not an object");
  setdefault(p, "rope_theta", r.has("rope_theta") ? json(r.number("rope_theta")) : json(10000.0));
  setdefault(p, "partial_rotary_factor",
             r.has("partial_rotary_factor") ? json(r.number("partial_rotary_factor")) : json(1.0));
  standardize(p, 10000.0);
  if (!p.at("rope_type").is_string()) throw r.error(field + ".rope_type", "is not a string");
  std::string type = p.at("rope_type").get<std::string>();
  if (type == "su" || type == "yarn") type = "longrope";
  p["rope_type"] = type;
  top_original_positions(r, p);  // Phi3Config's own (default 4096) always wins
  if (type != "default" && type != "longrope")
    throw r.error(field + ".rope_type", "unsupported rope type '" + type +
                                            "' for phi3 (transformers accepts default and longrope)");
  const double f = r.number(p, "partial_rotary_factor", field + ".partial_rotary_factor");
  p.erase("partial_rotary_factor");
  c.rope = parse_rope_object(r, p, field, c.max_position_embeddings, true);
  c.rotary_dim = rotary_dims(r, field + ".partial_rotary_factor", f, c.head_dim);
  if (c.rotary_dim > 0) check_rope_dims(r, field, c.rope, c.rotary_dim);
}

// A soft-capping cap: absent or null -> 0 (none), else positive.
double parse_softcap(const Reader& r, const std::string& key) {
  if (!r.has(key)) return 0.0;
  const double v = r.number(key);
  if (!(v > 0)) throw r.error(key, "must be positive (or null: no soft-capping)");
  return v;
}

// Gemma 2 and 3: query_pre_attn_scalar; Gemma 2's soft-capping (Gemma 3's is read and
// ignored, as transformers' Gemma3Attention passes no softcap to its attention, with a
// warning); causal attention only. Gemma 2 needs hidden_size divisible by the heads (as HF).
void parse_gemma_attention(const Reader& r, ModelConfig& c) {
  const bool gemma2 = c.arch == Architecture::Gemma2;
  if (gemma2) {
    if (c.hidden_size % c.num_heads != 0)
      throw r.error("num_attention_heads", "does not divide hidden_size (transformers requires it)");
    c.attn_logit_softcapping = parse_softcap(r, "attn_logit_softcapping");
    c.final_logit_softcapping = parse_softcap(r, "final_logit_softcapping");
  } else if (r.has("attn_logit_softcapping")) {  // HF's Gemma 3 takes any float (or null)
    const double cap = r.number("attn_logit_softcapping");
    char v[32];
    std::snprintf(v, sizeof v, "%.9g", cap);
    c.warnings.push_back(c.path + ": field 'attn_logit_softcapping' (" + v +
                         ") is ignored, as transformers' Gemma 3 ignores it (no attention soft-capping)");
  }
  if (r.boolean_or("use_bidirectional_attention", false))
    throw r.error("use_bidirectional_attention", "bidirectional Gemma is not supported");
  c.query_pre_attn_scalar = r.number("query_pre_attn_scalar");
  if (!(c.query_pre_attn_scalar > 0)) throw r.error("query_pre_attn_scalar", "must be positive");
}

// Decoder fields: norm, activation, biases, qk-norm, RoPE, windows, Gemma's scale.
void parse_decoder(const Reader& r, ModelConfig& c) {
  const bool gemma3 = c.arch == Architecture::Gemma3Text;
  const bool gemma = gemma3 || c.arch == Architecture::Gemma2;
  c.norm_eps = r.number("rms_norm_eps");
  c.hidden_act = r.string_or(gemma ? "hidden_activation" : "hidden_act", "");
  // Only Llama's MLP reads mlp_bias; Qwen2 always has q/k/v biases, Mistral and Phi-3 never.
  c.mlp_bias = c.arch == Architecture::Llama && r.boolean_or("mlp_bias", false);
  c.attention_bias =
      c.arch == Architecture::Qwen2 || (c.arch != Architecture::Mistral && c.arch != Architecture::Phi3 &&
                                        r.boolean_or("attention_bias", false));
  c.o_bias = c.attention_bias && c.arch != Architecture::Qwen2;
  c.qk_norm = c.arch == Architecture::Qwen3 || gemma3;  // OLMo 2's norms span all heads
  if (gemma3)
    parse_gemma_rope(r, c);
  else if (c.arch == Architecture::Phi3)
    parse_phi3_rope(r, c);
  else
    c.rope = parse_rope(r, c.arch, c.max_position_embeddings, c.head_dim);
  if (c.arch == Architecture::Gemma2) c.rope_local = c.rope;  // one RoPE for every layer
  parse_windows(r, c);
  if (gemma) parse_gemma_attention(r, c);
}

}  // namespace

ModelConfig parse_hf_config(const std::string& text, const std::string& path) {
  check_json_limits(text, path);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range: a number overflows
    throw InputError(path, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw InputError(path, "not a JSON object");
  ModelConfig c;
  c.path = path;
  {
    const Reader pick(j, path);
    c.arch = pick_architecture(pick, c.model_type);
  }
  const bool gpt2 = c.arch == Architecture::Gpt2, neox = c.arch == Architecture::GptNeoX;
  if (gpt2) normalize_gpt2(j);
  apply_defaults(j, c.arch);
  if (gpt2) fill_gpt2_shapes(j, path);
  if (gpt2 || neox) j.erase("head_dim"), j.erase("num_key_value_heads");
  const Reader r(j, path);
  parse_shapes(r, c);
  if (gpt2 || neox) {
    gpt2 ? parse_gpt2(r, c) : parse_neox(r, c);
    return c;
  }
  if (c.arch != Architecture::Bert) {
    parse_decoder(r, c);
    return c;
  }
  c.norm_eps = r.number("layer_norm_eps");
  c.hidden_act = r.string_or("hidden_act", "");
  c.type_vocab_size = r.positive("type_vocab_size");
  c.position_embedding_type = r.string_or("position_embedding_type", "absolute");
  if (r.boolean_or("is_decoder", false))
    throw r.error("is_decoder", "a causal (decoder) BERT is not supported");
  c.attention_bias = c.o_bias = c.mlp_bias = true;
  return c;
}

double attention_scale(const ModelConfig& c, int64_t layer) {
  if (c.arch == Architecture::Gemma3Text || c.arch == Architecture::Gemma2)
    return std::pow(c.query_pre_attn_scalar, -0.5);
  if (c.arch != Architecture::Gpt2) return std::pow(static_cast<double>(c.head_dim), -0.5);
  double s = c.scale_attn_weights ? std::pow(static_cast<double>(c.head_dim), -0.5) : 1.0;
  if (c.scale_by_inverse_layer) s /= static_cast<double>(layer + 1);
  return s;
}

bool runs_past_max_positions(const ModelConfig& c) {
  return c.arch != Architecture::Bert && c.arch != Architecture::Gpt2;
}

ModelConfig load_hf_config(const std::string& dir) {
  struct stat st {};
  std::string path = dir;
  if (stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) path = dir + "/config.json";
  return parse_hf_config(read_json_file(path), path);
}

}  // namespace qk
