# The self-contained parts of SNS: filter policies and message signing, with their tests.
gc_library(gc_sns_parts
  SRCS ${CMAKE_CURRENT_LIST_DIR}/filter_policy.cc ${CMAKE_CURRENT_LIST_DIR}/message_signing.cc
  DEPS gc_common OpenSSL::Crypto nlohmann_json::nlohmann_json fmt::fmt)
gc_test(filter_policy_test SRCS ${CMAKE_CURRENT_LIST_DIR}/filter_policy_test.cc DEPS gc_sns_parts)
gc_test(message_signing_test SRCS ${CMAKE_CURRENT_LIST_DIR}/message_signing_test.cc
  DEPS gc_sns_parts)
