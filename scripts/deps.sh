#!/usr/bin/env bash
# Installs what groundcrew needs from Debian 12's packages, only when something is missing.
# Usage: scripts/deps.sh [--test]   (--test adds what the test suite and benchmarks need)
set -euo pipefail
pkgs=(g++ cmake ninja-build ccache pkg-config libboost-dev libssl-dev libsqlite3-dev libpq-dev
      nlohmann-json3-dev libsimdjson-dev libfmt-dev libcli11-dev libgtest-dev libbenchmark-dev
      libcurl4-openssl-dev libyaml-cpp-dev tzdata)
if [[ "${1:-}" == "--test" ]]; then
  # Debian's AWS CLI and boto3 are always installed: the end-to-end suites run with them as well
  # as with whatever newer clients the machine has on PATH. rpm (with rpmbuild) makes the real
  # rpm databases the agent's inventory test reads.
  pkgs+=(postgresql clang libclang-rt-14-dev nginx-light python3 openssl awscli python3-boto3
        python3-aiosmtpd python3-cryptography rpm)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
