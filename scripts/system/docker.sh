#!/usr/bin/env bash
# Makes a Docker engine answer on this machine, for meshbed's docker tests and bench.
# Idempotent: installs Debian's docker.io and busybox-static only when missing, starts dockerd
# in the background only when no engine answers, then waits until `docker info` answers.
# Honors DOCKER_HOST: when it points at an engine that answers, nothing is done.
set -euo pipefail

log() { printf 'docker.sh: %s\n' "$*" >&2; }

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v docker >/dev/null 2>&1 || need+=(docker.io)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
if ((${#need[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing ${need[*]}: run as root, or: sudo apt-get install -y ${need[*]}"
    exit 1
  fi
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

engine_answers() { timeout 5 docker info >/dev/null 2>&1; }

if engine_answers; then
  log "engine answers${DOCKER_HOST:+ at $DOCKER_HOST}"
  exit 0
fi

if [[ -n "${DOCKER_HOST:-}" && "${DOCKER_HOST}" != unix:///var/run/docker.sock ]]; then
  log "DOCKER_HOST=$DOCKER_HOST does not answer; unset it to use a local dockerd"
  exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
  log "no engine answers and starting dockerd needs root: sudo $0"
  exit 1
fi

# A dockerd of ours may be starting already (another caller of this script): do not start a second.
if ! pgrep -x dockerd >/dev/null 2>&1; then
  log "starting dockerd (log: /var/log/meshbed-dockerd.log)"
  # Its own session: dockerd outlives this script and whatever process group ran it.
  setsid nohup dockerd >>/var/log/meshbed-dockerd.log 2>&1 </dev/null &
fi

for _ in $(seq 1 120); do
  if engine_answers; then
    log "engine answers"
    exit 0
  fi
  sleep 0.5
done
log "dockerd did not answer within 60 s; see /var/log/meshbed-dockerd.log"
tail -n 20 /var/log/meshbed-dockerd.log >&2 || true
exit 1
