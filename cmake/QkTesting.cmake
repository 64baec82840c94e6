# Test registration helpers.
include(GoogleTest)

# qk_add_gtest(NAME src...): a GoogleTest binary linked with the engine, its
# cases registered with ctest one by one.
function(qk_add_gtest name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE qk_host GTest::gtest GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)  # shared test headers
  target_compile_definitions(${name} PRIVATE
    QK_SOURCE_DIR="${CMAKE_SOURCE_DIR}" QK_BINARY_DIR="${CMAKE_BINARY_DIR}")
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60)
endfunction()

# The environment of every Python test: one CPU thread for torch and for the qkgeom runs it
# starts (OMP_NUM_THREADS; tests of the thread options set their own), so that `ctest -j N`
# runs N tests on N cores instead of N x threads busy-waiting on them (docs/testing.md).
set(QK_PYTEST_ENV "OMP_NUM_THREADS=1;QKGEOM_BIN=$<TARGET_FILE:qkgeom>;QK_SOURCE_DIR=${CMAKE_SOURCE_DIR};QK_BINARY_DIR=${CMAKE_BINARY_DIR}")

# qk_add_pytest(NAME script.py [args...]): a Python reference test run by ctest;
# exit code 77 means skipped (a reference it needs is absent).
function(qk_add_pytest name script)
  add_test(NAME ${name}
    COMMAND ${Python3_EXECUTABLE} ${script} ${ARGN}
    WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 ENVIRONMENT "${QK_PYTEST_ENV}")
endfunction()
