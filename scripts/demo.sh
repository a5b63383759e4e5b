#!/usr/bin/env bash
# The demo: installs what it needs, builds, and runs examples/demo/hybrid.mjs against the built
# package — it starts the ADR's hybrid topology on lab nodes (a local process, a container, a LAN
# node and a WireGuard node, joined by the mesh), prints the registry and each service's env, proves that the
# injected addresses connect, and tears everything down.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system/setup.sh
npm run build --silent
node examples/demo/hybrid.mjs
