# Small declarative helpers: gc_library(NAME SRCS ... DEPS ...), gc_test(NAME SRCS ... DEPS ...).
include_guard(GLOBAL)

function(gc_library name)
  cmake_parse_arguments(A "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SRCS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${A_DEPS})
endfunction()

# Every unit test binary, so the sanitizer build can build just those: `--target unit_tests`.
if(NOT TARGET unit_tests)
  add_custom_target(unit_tests)
endif()

function(gc_test name)
  cmake_parse_arguments(A "" "" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${A_SRCS})
  target_link_libraries(${name} PRIVATE ${A_DEPS} GTest::gtest GTest::gtest_main)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  add_dependencies(unit_tests ${name})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "unit;${A_LABELS}"
    ENVIRONMENT "GC_SHARED_DIR=${GC_SHARED_DIR};GC_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
