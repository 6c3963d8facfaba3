// App: groundcrewd assembled — data directory, credentials, store and migrations, services,
// dispatcher and HTTP server. Run() blocks until SIGTERM/SIGINT. Not copyable; one per process.
#pragma once

#include <cstdint>
#include <string>

namespace gc::server {

struct AppOptions {
  std::string listen = "127.0.0.1:4566";
  std::string data_dir;  // default: $XDG_DATA_HOME/groundcrew or ~/.local/share/groundcrew
  std::string store_url;  // default: SQLite file in the data directory
  bool dev = false;
  std::string account_id;  // fixes the account id (test fixtures)
  std::string tls_cert;
  std::string tls_key;
  bool tls_self_signed = false;
  int threads = 0;
  bool access_log = true;
};

// The default data directory.
std::string DefaultDataDir();

// Runs the server; returns the process exit code.
int RunServer(AppOptions options);

}  // namespace gc::server
