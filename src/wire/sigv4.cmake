# SigV4 signing/verification library and its corpus-driven test.
gc_library(gc_sigv4 SRCS ${CMAKE_CURRENT_SOURCE_DIR}/sigv4.cc DEPS gc_common)
gc_test(sigv4_test SRCS ${CMAKE_CURRENT_SOURCE_DIR}/sigv4_test.cc
        DEPS gc_sigv4 nlohmann_json::nlohmann_json)
# Fallback for running the binary directly (ctest sets GC_SHARED_DIR in the environment).
target_compile_definitions(sigv4_test PRIVATE GC_SHARED_DIR_DEFAULT="${GC_SHARED_DIR}")
