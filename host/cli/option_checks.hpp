#pragma once
// Numeric option checks whose messages print the bounds readably ("--epochs: must be
// >= 0, not -1"). CLI11's NonNegativeNumber and PositiveNumber print the upper bound of
// a double in full (309 digits), and its Range prints "0.000000 to 1.000000".
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace qk {

// `x` printed with %g: 0, 1, 1e+08, 0.25.
inline std::string bound_text(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", x);
  return b;
}

// A number v with lo <= v (lo < v when `open_lo`) and v <= hi; `want` reads "must be
// <want>, not <value>" in the message, `desc` is the help text.
inline CLI::Validator number_in(double lo, double hi, bool open_lo, const std::string& want,
                                const std::string& desc) {
  return CLI::Validator(
      [=](std::string& in) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(in, v)) return "'" + in + "' is not a number";
        if ((open_lo ? v > lo : v >= lo) && v <= hi) return {};
        return "must be " + want + ", not " + in;
      },
      desc);
}

// A number > 0.
inline CLI::Validator positive() { return number_in(0, HUGE_VAL, true, "> 0", "POSITIVE"); }
// A number >= 0.
inline CLI::Validator non_negative() { return number_in(0, HUGE_VAL, false, ">= 0", "NONNEGATIVE"); }
// A number in [lo, hi].
inline CLI::Validator in_range(double lo, double hi) {
  const std::string r = "in [" + bound_text(lo) + ", " + bound_text(hi) + "]";
  return number_in(lo, hi, false, r, r);
}

// A whole number in [0, hi] written in decimal digits (a seed): "-1", "1.5", "1e3" and hi + 1
// are refused, never wrapped into range.
inline CLI::Validator whole_number_to(uint64_t hi) {
  const std::string top = hi == UINT64_MAX ? "2^64 - 1" : std::to_string(hi);
  const std::string r = "a whole number in [0, " + top + "]";
  return CLI::Validator(
      [=](std::string& in) -> std::string {
        errno = 0;
        const bool digits = !in.empty() && in.find_first_not_of("0123456789") == std::string::npos;
        if (digits && std::strtoull(in.c_str(), nullptr, 10) <= hi && errno != ERANGE) return {};
        return "must be " + r + ", not " + in;
      },
      "0.." + top);
}

// A comma-separated list of distinct whole numbers in [1, hi] ("64,128,256"): an empty list,
// an empty item ("1,,2"), a sign, a fraction, a value past hi and a value listed twice ("8,8",
// "8,08": each list entry is one run) are refused with the item.
inline CLI::Validator positive_int_list(int64_t hi) {
  const std::string r = "whole numbers in [1, " + std::to_string(hi) + "] separated by commas";
  return CLI::Validator(
      [=](std::string& in) -> std::string {
        if (in.empty()) return "must be " + r + ", not an empty list";
        std::vector<int64_t> seen;
        size_t at = 0;
        for (size_t end = 0; end != std::string::npos; at = end + 1) {
          end = in.find(',', at);
          const std::string item = in.substr(at, end == std::string::npos ? std::string::npos : end - at);
          const bool digits =
              !item.empty() && item.size() < 19 && item.find_first_not_of("0123456789") == std::string::npos;
          if (!digits || std::stoll(item) < 1 || std::stoll(item) > hi)
            return "must be " + r + "; item '" + item + "' of '" + in + "' is not";
          if (std::find(seen.begin(), seen.end(), std::stoll(item)) != seen.end())
            return "item '" + item + "' of '" + in + "' is listed twice (" +
                   std::to_string(std::stoll(item)) + "); give each value once";
          seen.push_back(std::stoll(item));
        }
        return {};
      },
      "N[,N...]");
}

// "64,128,256" of {64, 128, 256}: a list's default text for positive_int_list().
inline std::string int_list_text(const std::vector<int64_t>& v) {
  std::string out;
  for (const int64_t x : v) out += (out.empty() ? "" : ",") + std::to_string(x);
  return out;
}

// The numbers of a list positive_int_list() accepted.
inline std::vector<int64_t> int_list(const std::string& text) {
  std::vector<int64_t> out;
  for (size_t at = 0, end = 0; end != std::string::npos; at = end + 1) {
    end = text.find(',', at);
    out.push_back(std::stoll(text.substr(at, end == std::string::npos ? std::string::npos : end - at)));
  }
  return out;
}

// std::invalid_argument (exit 2) "<option>: 'B' is given twice (the same as 'A')" when two
// of `paths` name one file or directory (also by another spelling or a link): a repeated
// value would be read and reported twice. With `read` (one per path), two paths whose files
// read are one file are refused too (a model directory and its config.json are one model).
inline void refuse_repeated_paths(const std::vector<std::string>& paths, const std::string& option,
                                  const std::vector<std::string>& read = {}) {
  const auto same = [](const std::string& a, const std::string& b) {
    std::error_code ec;
    return a == b || std::filesystem::equivalent(a, b, ec);
  };
  for (size_t i = 0; i < paths.size(); ++i)
    for (size_t j = 0; j < i; ++j) {
      if (same(paths[i], paths[j]) || (!read.empty() && same(read[i], read[j])))
        throw std::invalid_argument(option + ": '" + paths[i] + "' is given twice (the same as '" + paths[j] +
                                    "')");
    }
}

// A compute dtype of the model runtime: bf16, f16 or f32, and with `with_auto` also auto
// (checked before any file is read).
inline CLI::Validator compute_dtype(bool with_auto = false) {
  return CLI::Validator(
      [with_auto](std::string& in) -> std::string {
        if (in == "bf16" || in == "f16" || in == "f32" || (with_auto && in == "auto")) return {};
        return "unsupported dtype '" + in + "'; supported: " + (with_auto ? "auto, " : "") + "bf16, f16, f32";
      },
      with_auto ? "auto|bf16|f16|f32" : "bf16|f16|f32");
}

}  // namespace qk
