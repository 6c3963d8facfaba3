// groundcrewd: the control plane. Thin main(): flags to AppOptions, then RunServer.
#include <CLI/CLI.hpp>

#include "server/app.h"

int main(int argc, char** argv) {
  gc::server::AppOptions opt;
  CLI::App app{"groundcrewd: a self-hosted operations plane that speaks the AWS APIs"};
  app.add_option("--listen", opt.listen, "HOST:PORT to listen on (port 0 picks a free port)")
      ->capture_default_str();
  app.add_option("--data-dir", opt.data_dir, "data directory (default $XDG_DATA_HOME/groundcrew)");
  app.add_option("--store", opt.store_url,
                 "store URL: sqlite:///path/file.db or postgres://user@host:port/db "
                 "(default: SQLite in the data directory)");
  app.add_flag("--dev", opt.dev, "enable test endpoints: POST /_groundcrew/reset, /moto-api/reset");
  app.add_option("--account-id", opt.account_id, "use this 12-digit account id");
  app.add_option("--tls-cert", opt.tls_cert, "PEM certificate chain for HTTPS");
  app.add_option("--tls-key", opt.tls_key, "PEM private key for HTTPS");
  app.add_flag("--tls-self-signed", opt.tls_self_signed,
               "make a local CA and server certificate in the data directory and serve HTTPS");
  app.add_option("--threads", opt.threads, "HTTP event loops, one thread each (default one per core)");
  app.add_option("--smtp-relay", opt.smtp_relay, "SMTP relay HOST:PORT for email deliveries");
  app.add_flag("--smtp-starttls", opt.smtp_starttls, "require STARTTLS with the SMTP relay");
  app.add_option("--smtp-user", opt.smtp_user, "SMTP AUTH user name");
  app.add_option("--smtp-password-file", opt.smtp_password_file, "file holding the SMTP password");
  app.add_option("--smtp-from", opt.smtp_from, "From address of email deliveries")
      ->capture_default_str();
  app.add_option("--delivery-workers", opt.delivery_workers, "delivery threads")
      ->capture_default_str();
  app.add_option("--delivery-ca-file", opt.delivery_ca_file,
                 "extra CA certificates (PEM) to trust for https subscribers");
  app.add_option("--node-ping-timeout", opt.node_ping_timeout_seconds,
                 "seconds without a heartbeat after which a managed node is ConnectionLost")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_flag("--local-agent", opt.local_agent,
               "run a groundcrew-agent for this machine (registered on first start, state in "
               "DATA_DIR/local-agent)");
  bool no_access_log = false;
  app.add_flag("--no-access-log", no_access_log, "do not write the per-request access log");
  CLI11_PARSE(app, argc, argv);
  opt.access_log = !no_access_log;
  if (!opt.account_id.empty() &&
      (opt.account_id.size() != 12 ||
       opt.account_id.find_first_not_of("0123456789") != std::string::npos)) {
    fprintf(stderr, "groundcrewd: --account-id must be 12 digits\n");
    return 2;
  }
  return gc::server::RunServer(opt);
}
