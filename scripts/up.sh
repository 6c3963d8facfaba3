#!/usr/bin/env bash
# Sets up, builds, and runs groundcrewd on the embedded store (SQLite in the data directory),
# with a groundcrew-agent for this machine (--local-agent), so it is a managed node at once.
# Usage: scripts/up.sh [groundcrewd flags...]   e.g. scripts/up.sh --listen 127.0.0.1:4566
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target groundcrewd groundcrew groundcrew-agent
data_dir="${XDG_DATA_HOME:-$HOME/.local/share}/groundcrew"
echo "When it says ready, in another shell: eval \"\$(build/bin/groundcrew env --data-dir $data_dir)\""
echo "then for example: aws ssm describe-instance-information   (this machine, Online)"
exec build/bin/groundcrewd --data-dir "$data_dir" --local-agent "$@"
