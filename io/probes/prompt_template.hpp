#pragma once
// Built-in prompt templates: wrap a probe's prompt the way a chat model expects its user
// turn, ending where the model's answer begins (docs/probe-sets.md).
#include <string>

namespace qk {

// `prompt` wrapped by template `name` (raw, chatml, gemma); std::invalid_argument
// naming --template (a usage error) for any other name.
std::string apply_template(const std::string& name, const std::string& prompt);

// The supported names, "raw, chatml, gemma".
std::string template_names();

}  // namespace qk
