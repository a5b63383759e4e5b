#!/usr/bin/env bash
# Installs and starts what meshbed's tests and demo need on a fresh Debian machine (as root):
# Debian packages, npm dependencies, dockerd. Idempotent: fast when everything is there.
set -euo pipefail
cd "$(dirname "$0")/../.."

# docker.io + busybox-static: the docker runtime and its FROM-scratch test images; openssh-*: the
# lab's sshd per node, ssh-keygen and scp; wireguard-*: the mesh; docker-compose: a bench peer;
# chromium: the status page's test opens the page in it (headless, driven by playwright-core).
# postgresql + postgresql-client: the names test reaches a real PostgreSQL by name with psql.
packages=(docker.io busybox-static postgresql postgresql-client openssh-server openssh-client wireguard-go wireguard-tools iproute2 iptables iputils-ping sudo procps docker-compose chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "meshbed setup: missing Debian packages (${missing[*]}); run as root, or install them with apt-get" >&2
    exit 1
  fi
  echo "meshbed setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The lab starts its own sshd per node; the system's sshd need not run.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled ssh >/dev/null 2>&1; then
    systemctl disable --now ssh >/dev/null 2>&1 || true
  fi
fi

# npm dependencies, exactly as the lock file lists them, when it is newer than what is installed.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

# A Docker engine, when none answers.
if [ -f scripts/system/docker.sh ]; then bash scripts/system/docker.sh; fi
