# Engine version (set at configure time) and the git sha of the sources (read at every build,
# so a commit after configuring is never recorded under the older sha), for provenance.
configure_file(${CMAKE_SOURCE_DIR}/cmake/version.hpp.in ${CMAKE_BINARY_DIR}/generated/qkgeom/version.hpp @ONLY)
set(QKGEOM_GIT_SHA_CPP ${CMAKE_BINARY_DIR}/generated/git_sha.cpp)
add_custom_target(qk_git_sha
  COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${CMAKE_SOURCE_DIR} -DOUT=${QKGEOM_GIT_SHA_CPP}
          -P ${CMAKE_SOURCE_DIR}/cmake/GitSha.cmake
  BYPRODUCTS ${QKGEOM_GIT_SHA_CPP}
  VERBATIM)
add_library(qk_version STATIC ${QKGEOM_GIT_SHA_CPP})
add_dependencies(qk_version qk_git_sha)
set_target_properties(qk_version PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_include_directories(qk_version PUBLIC ${CMAKE_BINARY_DIR}/generated)
