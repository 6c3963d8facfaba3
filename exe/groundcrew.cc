// groundcrew: the command line for what the AWS CLI does not cover. `groundcrew env` prints the
// environment that points the AWS CLI and SDKs at a groundcrewd.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "server/app.h"
#include "server/credentials.h"

namespace {

// Quotes a value for a POSIX shell.
std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

int Env(const std::string& data_dir_in, std::string endpoint, const std::string& region) {
  std::string data_dir = data_dir_in.empty() ? gc::server::DefaultDataDir() : data_dir_in;
  auto text = gc::server::ReadFile(data_dir + "/credentials.json");
  if (!text) {
    fmt::print(stderr, "groundcrew: no credentials in {}; start groundcrewd with --data-dir {} first\n",
               data_dir, data_dir);
    return 1;
  }
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object()) {
    fmt::print(stderr, "groundcrew: {}/credentials.json is damaged\n", data_dir);
    return 1;
  }
  if (endpoint.empty()) {
    if (auto e = gc::server::ReadFile(data_dir + "/endpoint")) {
      endpoint = *e;
      while (!endpoint.empty() && (endpoint.back() == '\n' || endpoint.back() == ' ')) {
        endpoint.pop_back();
      }
    } else {
      endpoint = "http://127.0.0.1:4566";
    }
  }
  fmt::print("export AWS_ENDPOINT_URL={}\n", ShellQuote(endpoint));
  fmt::print("export AWS_ACCESS_KEY_ID={}\n", ShellQuote(j.value("access_key_id", "")));
  fmt::print("export AWS_SECRET_ACCESS_KEY={}\n", ShellQuote(j.value("secret_access_key", "")));
  fmt::print("export AWS_DEFAULT_REGION={}\n", ShellQuote(region));
  fmt::print("unset AWS_SESSION_TOKEN AWS_PROFILE\n");
  if (endpoint.rfind("https://", 0) == 0) {
    fmt::print("export AWS_CA_BUNDLE={}\n", ShellQuote(data_dir + "/tls/ca.pem"));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"groundcrew: command line for a groundcrewd"};
  app.require_subcommand(1);
  std::string data_dir, endpoint, region = "us-east-1";
  auto* env = app.add_subcommand("env", "print export lines for the AWS CLI and SDKs");
  env->add_option("--data-dir", data_dir, "groundcrewd's data directory");
  env->add_option("--endpoint", endpoint, "endpoint URL (default: the one groundcrewd wrote)");
  env->add_option("--region", region, "region")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (env->parsed()) return Env(data_dir, endpoint, region);
  return 2;
}
