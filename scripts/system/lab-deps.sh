#!/bin/sh
# Installs what meshbed's lab needs (network namespaces, bridges, sshd per node, sudo for a
# node's non-root user). Idempotent: installs only what is missing; `apt-get update` runs once,
# and only when something is to be installed. Needs root.
set -eu

if [ "$(id -u)" -ne 0 ]; then
  echo "lab-deps.sh: run as root (it installs Debian packages)" >&2
  exit 1
fi

missing=""
for pkg in openssh-server openssh-client iproute2 iptables sudo; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $pkg"
  fi
done

if [ -z "$missing" ]; then
  echo "lab-deps.sh: everything is installed"
  exit 0
fi

echo "lab-deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq --no-install-recommends $missing
# The lab starts its own sshd per node; the system's sshd need not run.
if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled ssh >/dev/null 2>&1; then
  systemctl disable --now ssh >/dev/null 2>&1 || true
fi
echo "lab-deps.sh: done"
