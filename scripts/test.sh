#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine as root: installs and starts what the tests
# need (scripts/system/setup.sh), builds, type-checks, and runs every test against real
# processes, dockerd, sshd in network namespaces and wireguard-go.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/system/setup.sh
npm run build --silent
npx tsc --noEmit -p .

report=$(mktemp /tmp/meshbed-vitest-XXXXXX.json)
status=0
npx vitest run --reporter=default --reporter=json --outputFile="$report" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`Tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$report" || true
rm -f "$report"
exit $status
