# Writes OUT (a C++ source defining qk::kGitSha) from the git checkout at SOURCE_DIR: the
# short sha of HEAD, "-dirty" when tracked files differ from it, "unknown" outside git.
# The file is rewritten only when the text changes, so an unchanged sha rebuilds nothing.
execute_process(COMMAND git rev-parse --short=12 HEAD
  WORKING_DIRECTORY ${SOURCE_DIR} RESULT_VARIABLE rc
  OUTPUT_VARIABLE sha OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT rc EQUAL 0 OR NOT sha)
  set(sha "unknown")
else()
  execute_process(COMMAND git status --porcelain --untracked-files=no
    WORKING_DIRECTORY ${SOURCE_DIR} OUTPUT_VARIABLE changes ERROR_QUIET)
  if(changes)
    string(APPEND sha "-dirty")
  endif()
endif()
set(text "// Generated at build time by cmake/GitSha.cmake.\n#include \"qkgeom/version.hpp\"\n\nnamespace qk {\nconst char* const kGitSha = \"${sha}\";\n}  // namespace qk\n")
set(old "")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
