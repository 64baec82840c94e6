#include "prompt_template.hpp"

#include <stdexcept>

namespace qk {

namespace {

struct Template {
  const char* name;
  const char* before;  // text before the prompt
  const char* after;   // text after it, up to where the model's turn starts
};

const Template kTemplates[] = {
    {"raw", "", ""},
    {"chatml", "<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n"},
    {"gemma", "<start_of_turn>user\n", "<end_of_turn>\n<start_of_turn>model\n"},
};

}  // namespace

std::string apply_template(const std::string& name, const std::string& prompt) {
  for (const Template& t : kTemplates) {
    if (name == t.name) return t.before + prompt + t.after;
  }
  throw std::invalid_argument("--template: unknown template '" + name + "'; supported: " + template_names());
}

std::string template_names() {
  std::string names;
  for (const Template& t : kTemplates) names += (names.empty() ? "" : ", ") + std::string(t.name);
  return names;
}

}  // namespace qk
