#pragma once
// Test helpers: `open(path)` must throw InputError naming `path` and containing `needle`;
// expect_usage_error: the same for a bad option value.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "input_error.hpp"

template <typename Open>
void expect_input_error(Open open, const std::string& path, const std::string& needle) {
  try {
    open(path);
    FAIL() << "no error for " << path;
  } catch (const qk::InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
}

// `call()` must throw std::invalid_argument (a usage error, exit 2), not InputError,
// naming `option` and containing `needle`.
template <typename Call>
void expect_usage_error(Call call, const std::string& option, const std::string& needle) {
  try {
    call();
    FAIL() << "no error for " << option;
  } catch (const qk::InputError& e) {
    FAIL() << "InputError (exit 3) for an option: " << e.what();
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(option + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
}
