/** The shortest and the longest gap between two readiness checks. */
const MIN_GAP_MS = 2;
const MAX_GAP_MS = 100;

/**
 * How long to wait before the next readiness check, `elapsedMs` after the first: a quarter of the
 * time waited so far, from 2 ms up to 100 ms. A service is then seen healthy at most about a
 * quarter later than it became so (doubling gaps could add all of it: a server ready at 130 ms was
 * seen at 226), while a slow one still costs few checks (about 20 in its first 600 ms).
 */
export function checkGap(elapsedMs: number): number {
  return Math.min(MAX_GAP_MS, Math.max(MIN_GAP_MS, elapsedMs / 4));
}
