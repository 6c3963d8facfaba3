gc_library(gc_http
  SRCS ${CMAKE_CURRENT_SOURCE_DIR}/http_server.cc ${CMAKE_CURRENT_SOURCE_DIR}/http_types.cc
  DEPS gc_common Boost::boost OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
target_compile_definitions(gc_http PRIVATE BOOST_ASIO_NO_DEPRECATED)
