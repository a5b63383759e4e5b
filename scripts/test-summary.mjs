// The closing lines of scripts/test.sh, from vitest's JSON reports: one line per run, then the
// totals of every run as "Tests: N passed, N failed, N skipped" (CI reads that last line).
// Usage: node scripts/test-summary.mjs "LABEL=REPORT.json" ...
import { readFileSync } from "node:fs";

const total = { passed: 0, failed: 0, skipped: 0 };

for (const arg of process.argv.slice(2)) {
  const at = arg.lastIndexOf("=");
  const label = arg.slice(0, at);
  const file = arg.slice(at + 1);
  const counts = { passed: 0, failed: 0, skipped: 0 };
  let report;
  try {
    report = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    // vitest stopped before it wrote its report (a crash, a signal): a failure, whatever ran.
    console.log(`${label}: no report from vitest (it stopped before the end), counted as 1 failed`);
    total.failed += 1;
    continue;
  }
  // Counted from each test's status rather than numPendingTests, which leaves out some skipped
  // tests (type tests that vitest collects but does not run), so that the three add up to the total.
  for (const file of report.testResults) {
    for (const test of file.assertionResults) {
      if (test.status === "passed") counts.passed += 1;
      else if (test.status === "failed") counts.failed += 1;
      else counts.skipped += 1; // skipped, pending, todo, disabled
    }
    // A file that failed before any of its tests ran (an import error, a failing beforeAll) has no
    // failed test of its own: it counts as one, so that a broken file cannot read as "0 failed".
    if (file.status === "failed" && !file.assertionResults.some((test) => test.status === "failed")) counts.failed += 1;
  }
  console.log(`${label}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  total.passed += counts.passed;
  total.failed += counts.failed;
  total.skipped += counts.skipped;
}

console.log(`Tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
