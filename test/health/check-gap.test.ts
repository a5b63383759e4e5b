import { describe, expect, it } from "vitest";
import { checkGap } from "../../src/health/check-gap.js";

/** The times of the checks of a wait that never succeeds, each check taking `checkMs`. */
function schedule(untilMs: number, checkMs = 0): number[] {
  const times: number[] = [];
  for (let t = 0; t <= untilMs; t += checkMs + checkGap(t + checkMs)) times.push(t);
  return times;
}

describe("checkGap", () => {
  it("checks a fast service often: every 2 ms at first", () => {
    expect(schedule(8).slice(0, 4)).toEqual([0, 2, 4, 6]);
  });

  it("sees a service at most about a quarter after it became ready", () => {
    for (const ready of [3, 10, 50, 130, 400, 1_000]) {
      const seen = schedule(ready * 2).find((t) => t >= ready)!;
      expect(seen - ready).toBeLessThanOrEqual(Math.max(2, ready / 4) + 1);
    }
  });

  it("costs few checks for a slow one, and waits at most 100 ms between two", () => {
    expect(schedule(600).length).toBeLessThanOrEqual(25);
    expect(checkGap(60_000)).toBe(100);
  });
});
