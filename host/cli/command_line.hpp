#pragma once
// The process's command line, shell-quoted, for provenance.
#include <string>

namespace qk {

void set_command_line(int argc, char** argv);
const std::string& command_line();

}  // namespace qk
