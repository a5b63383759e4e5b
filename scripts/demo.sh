#!/usr/bin/env bash
# The demo: installs what it needs, builds, and runs examples/demo/demo.mjs against the built
# package — it starts a topology, prints the registry and each service's env, proves that the
# injected addresses connect, and tears everything down.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system/setup.sh
npm run build --silent
node examples/demo/demo.mjs
