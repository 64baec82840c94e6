# Engine version and git sha, baked into the binary for provenance.
execute_process(COMMAND git rev-parse --short=12 HEAD
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
  OUTPUT_VARIABLE QKGEOM_GIT_SHA OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT QKGEOM_GIT_SHA)
  set(QKGEOM_GIT_SHA "unknown")
endif()
configure_file(${CMAKE_SOURCE_DIR}/cmake/version.hpp.in ${CMAKE_BINARY_DIR}/generated/qkgeom/version.hpp @ONLY)
add_library(qk_version INTERFACE)
target_include_directories(qk_version INTERFACE ${CMAKE_BINARY_DIR}/generated)
