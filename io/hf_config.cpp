#include "hf_config.hpp"

#include <cmath>

#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "input_error.hpp"

namespace qk {

namespace {

using nlohmann::json;

struct Known {
  const char* model_type;
  Architecture arch;
};

constexpr Known kKnown[] = {
    {"llama", Architecture::Llama},   {"mistral", Architecture::Mistral},
    {"qwen2", Architecture::Qwen2},   {"qwen3", Architecture::Qwen3},
    {"gemma3_text", Architecture::Gemma3Text}, {"bert", Architecture::Bert},
};

// HF class names (architectures[0]) of the same families, by prefix.
constexpr Known kClassPrefixes[] = {
    {"Llama", Architecture::Llama},   {"Mistral", Architecture::Mistral},
    {"Qwen2", Architecture::Qwen2},   {"Qwen3", Architecture::Qwen3},
    {"Gemma3ForCausalLM", Architecture::Gemma3Text}, {"Bert", Architecture::Bert},
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
  double number_or(const std::string& key, double fallback) const {
    return has(key) ? number(key) : fallback;
  }
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
    throw r.error("model_type", "unsupported architecture '" + model_type +
                                    "'; supported: " + list);
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
  if (name == "llama3") return RopeType::Llama3;
  if (name == "yarn") return RopeType::Yarn;
  throw r.error(field, "unsupported rope type '" + name + "'; supported: default, linear, llama3, yarn");
}

// Reads one RoPE parameter object (rope_parameters / rope_scaling style); `theta`
// is the fallback base when the object does not carry rope_theta.
RopeConfig parse_rope_object(const Reader& r, const json& o, const std::string& field,
                             double theta, int64_t max_positions) {
  RopeConfig rc;
  rc.theta = theta;
  if (!o.is_object()) throw r.error(field, "is not an object");
  if (r.present(o, "rope_theta")) rc.theta = r.number(o, "rope_theta", field + ".rope_theta");
  std::string type = "default";
  for (const char* key : {"rope_type", "type"})
    if (r.present(o, key)) {
      if (!o.at(key).is_string()) throw r.error(field + "." + key, "is not a string");
      type = o.at(key).get<std::string>();
      break;
    }
  rc.type = rope_type_from(r, field + ".rope_type", type);
  if (rc.type != RopeType::Default) rc.factor = r.number(o, "factor", field + ".factor");
  if (rc.type == RopeType::Llama3) {
    rc.low_freq_factor = r.number(o, "low_freq_factor", field + ".low_freq_factor");
    rc.high_freq_factor = r.number(o, "high_freq_factor", field + ".high_freq_factor");
    rc.original_max_position_embeddings =
        r.present(o, "original_max_position_embeddings")
            ? r.integer(o, "original_max_position_embeddings",
                        field + ".original_max_position_embeddings")
            : max_positions;
    if (rc.high_freq_factor <= rc.low_freq_factor)
      throw r.error(field + ".high_freq_factor", "must exceed low_freq_factor");
  }
  if (rc.type == RopeType::Yarn) {  // as transformers' _compute_yarn_parameters
    rc.original_max_position_embeddings =
        r.present(o, "original_max_position_embeddings")
            ? r.integer(o, "original_max_position_embeddings", field + ".original_max_position_embeddings")
            : max_positions;
    if (r.present(o, "beta_fast")) rc.beta_fast = r.number(o, "beta_fast", field + ".beta_fast");
    if (r.present(o, "beta_slow")) rc.beta_slow = r.number(o, "beta_slow", field + ".beta_slow");
    if (r.present(o, "truncate")) {
      if (!o.at("truncate").is_boolean()) throw r.error(field + ".truncate", "is not a boolean");
      rc.truncate = o.at("truncate").get<bool>();
    }
    // attention_factor, else from mscale / mscale_all_dim, else 0.1 ln(factor) + 1.
    auto get_mscale = [](double scale, double m) { return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; };
    const double ms = r.present(o, "mscale") ? r.number(o, "mscale", field + ".mscale") : 0.0;
    const double ms_all = r.present(o, "mscale_all_dim") ? r.number(o, "mscale_all_dim", field + ".mscale_all_dim") : 0.0;
    if (r.present(o, "attention_factor"))
      rc.attention_factor = r.number(o, "attention_factor", field + ".attention_factor");
    else if (ms != 0 && ms_all != 0)
      rc.attention_factor = get_mscale(rc.factor, ms) / get_mscale(rc.factor, ms_all);
    else
      rc.attention_factor = get_mscale(rc.factor, 1.0);
    if (rc.original_max_position_embeddings < 1)
      throw r.error(field + ".original_max_position_embeddings", "must be positive");
  }
  if (!(rc.theta > 0)) throw r.error(field + ".rope_theta", "must be positive");
  if (!(rc.factor > 0)) throw r.error(field + ".factor", "must be positive");
  return rc;
}

// The global RoPE of a decoder: rope_parameters (5.x) or rope_theta + rope_scaling (4.x).
RopeConfig parse_rope(const Reader& r, const std::string& key_in_params, int64_t max_positions) {
  const json& j = r.root();
  if (r.has("rope_parameters")) {
    const json& p = j.at("rope_parameters");
    if (!key_in_params.empty() && p.is_object() && p.contains(key_in_params))
      return parse_rope_object(r, p.at(key_in_params), "rope_parameters." + key_in_params,
                               r.number_or("rope_theta", 10000.0), max_positions);
    return parse_rope_object(r, p, "rope_parameters", r.number_or("rope_theta", 10000.0),
                             max_positions);
  }
  const double theta = r.number_or("rope_theta", 10000.0);
  if (r.has("rope_scaling"))
    return parse_rope_object(r, j.at("rope_scaling"), "rope_scaling", theta, max_positions);
  RopeConfig rc;
  rc.theta = theta;
  return rc;
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
    if (s == "sliding_attention") out.push_back(true);
    else if (s == "full_attention") out.push_back(false);
    else throw r.error("layer_types", "unknown layer type '" + s + "'");
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

ModelConfig parse_hf_config(const std::string& text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw InputError(path, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw InputError(path, "not a JSON object");
  const Reader r(j, path);
  ModelConfig c;
  c.path = path;
  c.arch = pick_architecture(r, c.model_type);
  const bool bert = c.arch == Architecture::Bert;
  const bool gemma = c.arch == Architecture::Gemma3Text;

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
  if (c.head_dim % 2 != 0 && !bert) throw r.error("head_dim", "must be even for RoPE");
  c.intermediate_size = r.positive("intermediate_size");
  c.vocab_size = r.positive("vocab_size");
  c.max_position_embeddings = r.positive("max_position_embeddings");
  c.dtype = parse_dtype(r);
  c.tie_word_embeddings = r.boolean_or("tie_word_embeddings", true);
  c.sliding_layers.assign(static_cast<size_t>(c.num_layers), false);

  if (bert) {
    c.norm_eps = r.number("layer_norm_eps");
    c.hidden_act = r.string_or("hidden_act", "gelu");
    c.type_vocab_size = r.positive("type_vocab_size");
    c.position_embedding_type = r.string_or("position_embedding_type", "absolute");
    c.attention_bias = c.o_bias = c.mlp_bias = true;
    return c;
  }

  c.norm_eps = r.number("rms_norm_eps");
  c.hidden_act = r.string_or(gemma ? "hidden_activation" : "hidden_act",
                             gemma ? "gelu_pytorch_tanh" : "silu");
  c.mlp_bias = r.boolean_or("mlp_bias", false);
  switch (c.arch) {
    case Architecture::Qwen2:
      c.attention_bias = true;
      break;
    case Architecture::Mistral:
      c.attention_bias = false;
      break;
    default:
      c.attention_bias = r.boolean_or("attention_bias", false);
      c.o_bias = c.attention_bias;
  }
  c.qk_norm = c.arch == Architecture::Qwen3 || gemma;
  c.rope = parse_rope(r, gemma ? "full_attention" : "", c.max_position_embeddings);

  if (r.has("sliding_window")) {
    const int64_t w = r.positive("sliding_window");
    switch (c.arch) {
      case Architecture::Mistral:
        c.sliding_window = w;
        c.sliding_layers.assign(static_cast<size_t>(c.num_layers), true);
        break;
      case Architecture::Qwen2:
      case Architecture::Qwen3:
        if (r.boolean_or("use_sliding_window", false)) {
          c.sliding_window = w;
          if (r.has("layer_types")) {
            c.sliding_layers = parse_layer_types(r, c.num_layers);
          } else {
            const int64_t from = r.has("max_window_layers") ? r.integer("max_window_layers") : 0;
            for (int64_t i = from; i < c.num_layers; ++i) c.sliding_layers[i] = true;
          }
        }
        break;
      case Architecture::Gemma3Text:
        c.sliding_window = w;
        break;
      default:
        break;
    }
  }

  if (gemma) {
    if (!c.sliding_window) throw r.error("sliding_window", "missing");
    if (r.has("layer_types")) {
      c.sliding_layers = parse_layer_types(r, c.num_layers);
    } else {
      const int64_t pattern = r.positive("sliding_window_pattern");
      for (int64_t i = 0; i < c.num_layers; ++i) c.sliding_layers[i] = (i + 1) % pattern != 0;
    }
    const json& p = j.contains("rope_parameters") ? j.at("rope_parameters") : json();
    if (p.is_object() && p.contains("sliding_attention")) {
      c.rope_local = parse_rope_object(r, p.at("sliding_attention"),
                                       "rope_parameters.sliding_attention", 10000.0,
                                       c.max_position_embeddings);
    } else {
      c.rope_local.theta = r.number("rope_local_base_freq");
    }
    if (r.has("attn_logit_softcapping"))
      throw r.error("attn_logit_softcapping", "attention logit soft-capping is not supported");
    if (r.boolean_or("use_bidirectional_attention", false))
      throw r.error("use_bidirectional_attention", "bidirectional Gemma 3 is not supported");
    c.query_pre_attn_scalar = r.number("query_pre_attn_scalar");
    if (!(c.query_pre_attn_scalar > 0)) throw r.error("query_pre_attn_scalar", "must be positive");
  }
  return c;
}

ModelConfig load_hf_config(const std::string& dir) {
  struct stat st {};
  std::string path = dir;
  if (stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) path = dir + "/config.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot open config.json");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_hf_config(ss.str(), path);
}

}  // namespace qk
