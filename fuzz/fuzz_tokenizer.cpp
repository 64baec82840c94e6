// libFuzzer: a Tokenizer read from the input as tokenizer.json (io/tokenizer), then a few
// strings encoded and ids turned back into tokens. InputError is the expected answer to a
// bad file; anything else is a bug.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "fuzz_file.hpp"
#include "input_error.hpp"
#include "tokenizer.hpp"

namespace {

const char* const kTexts[] = {"",
                              "Hello world",
                              "  leading and trailing  ",
                              "The quick brown fox, 1234567!",
                              "na\xc3\xafve caf\xc3\xa9 \xc3\x9c\x62\x65r",
                              "\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80",
                              "<s>[CLS] a</s>[SEP]\n\ttab",
                              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};

void exercise(const qk::Tokenizer& tok) {
  for (const char* text : kTexts) {
    tok.encode(text, true);
    tok.encode(text, false);
  }
  const size_t n = tok.vocab_size();
  for (size_t id : {size_t{0}, n / 2, n == 0 ? 0 : n - 1}) {
    try {
      tok.id_to_token(static_cast<int32_t>(id));
    } catch (const std::out_of_range&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qk::fuzz::FuzzFile f(data, size, "_tokenizer.json");
  try {
    exercise(qk::Tokenizer::from_files(f.path, ""));
  } catch (const qk::InputError&) {
  }
  return 0;
}
