#pragma once
// Test helper: `open(path)` must throw InputError naming `path` and containing `needle`.
#include <gtest/gtest.h>

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
