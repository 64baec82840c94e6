#pragma once
// UTF-8 helpers and Unicode properties for the tokenizer, backed by ICU (no local tables).
#include <cstdint>
#include <string>
#include <vector>

namespace qk::tok {

// Decodes UTF-8 into code points (the input is assumed valid: it comes from std::string
// text that the CLI or caller supplies; invalid bytes decode as U+FFFD).
std::vector<char32_t> utf8_decode(const std::string& s);
// Decodes the code point at byte i and advances i past it (invalid bytes: U+FFFD, one byte).
char32_t utf8_next(const std::string& s, size_t& i);
// Appends the UTF-8 encoding of c to out.
void utf8_append(std::string& out, char32_t c);
// Offset of the first byte that is not part of well-formed UTF-8, or npos if none.
size_t utf8_invalid_at(const std::string& s);
// Byte length of the UTF-8 sequence starting with lead byte b.
int utf8_len(unsigned char b);

// Unicode properties as Rust's char methods define them (HF tokenizers is in Rust).
bool is_whitespace(char32_t c);       // White_Space property
bool is_word_char(char32_t c);        // regex \w as Rust's regex crate: Alphabetic, M*, Nd, Pc, Join_Control
bool is_punctuation(char32_t c);      // general category P*
bool is_numeric(char32_t c);          // general category N* (Nd, Nl, No)
bool is_other(char32_t c);            // general category C* (Cc, Cf, Cs, Co, Cn)
bool is_mark_nonspacing(char32_t c);  // general category Mn
bool is_mark(char32_t c);             // general category M* (Mn, Mc, Me)

// Full (context-free, per code point) lowercase mapping, as Rust's char::to_lowercase.
void append_lowercase(std::string& out, char32_t c);

enum class NormForm { NFC, NFD, NFKC, NFKD };
// Unicode normalization of UTF-8 text.
std::string normalize(const std::string& s, NormForm form);

}  // namespace qk::tok
