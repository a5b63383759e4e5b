#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine as root: installs and starts what the tests
# need (scripts/system/setup.sh), builds, type-checks, checks the formatting, lint and the import
# boundaries between layers, runs the unit project on the other Node versions we support
# (scripts/system/node-versions.sh), and runs every test on this machine's Node against real
# processes, dockerd, sshd in network namespaces and wireguard-go.
# Arguments go to the main vitest run (`npm test -- test/plan`); with any, the other Node versions
# are left out. The last line is the count of every run: "Tests: N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/system/setup.sh
npm run build --silent
npx tsc --noEmit -p .

status=0
failures=()
# A failed check does not stop the run: the tests still run, so that one run shows all that is
# wrong, and the exit status says it failed.
echo "meshbed test: lint and format (biome)"
npm run lint --silent || { status=1; failures+=("lint: failed (see above; \`npm run format\` fixes the formatting and what Biome can fix safely, the rest needs a hand)"); }
echo "meshbed test: import boundaries (dependency-cruiser)"
npm run boundaries --silent || { status=1; failures+=("boundaries: failed (see above; each rule of .dependency-cruiser.cjs says which layer may import which)"); }

reports=$(mktemp -d /tmp/meshbed-vitest-XXXXXX)
trap 'rm -rf "$reports"' EXIT
runs=()

if [ $# -eq 0 ]; then
  if bins=$(bash scripts/system/node-versions.sh); then
    mapfile -t bins <<<"$bins"
    for bin in "${bins[@]}"; do
      version=$("$bin/node" --version)
      echo "meshbed test: the unit project on Node $version ($bin/node)"
      # PATH first, so that what vitest starts by name (its workers, tsc for the type tests) runs on it too.
      PATH="$bin:$PATH" node node_modules/vitest/vitest.mjs run --project unit --reporter=default --reporter=json --outputFile="$reports/node-$version.json" || status=1
      runs+=("unit project on Node $version=$reports/node-$version.json")
    done
  else
    status=1
    failures+=("other Node versions: not installed (see scripts/system/node-versions.sh above)")
  fi
fi

main="vitest run${*:+ $*} on Node $(node --version)"
echo "meshbed test: $main"
npx vitest run --reporter=default --reporter=json --outputFile="$reports/main.json" "$@" || status=$?
runs+=("$main=$reports/main.json")

for failure in ${failures[@]+"${failures[@]}"}; do echo "$failure"; done
node scripts/test-summary.mjs "${runs[@]}" || status=1
exit $status
