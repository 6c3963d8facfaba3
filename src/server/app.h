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
  // Email deliveries (SNS email/email-json): the SMTP relay, "HOST:PORT"; empty: none.
  std::string smtp_relay;
  bool smtp_starttls = false;
  std::string smtp_user;
  std::string smtp_password_file;  // the password is read from this file (mode 0600)
  std::string smtp_from = "no-reply@groundcrew.local";
  int delivery_workers = 4;
  std::string delivery_ca_file;  // extra CA for https subscribers
  // A managed node without a heartbeat for longer is ConnectionLost (the agent pings every 5 min).
  int64_t node_ping_timeout_seconds = 600;
  // Runs a groundcrew-agent for this machine as a child process (local_agent.h).
  bool local_agent = false;
};

// The default data directory.
std::string DefaultDataDir();

// Runs the server; returns the process exit code.
int RunServer(AppOptions options);

}  // namespace gc::server
