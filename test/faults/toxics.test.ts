/**
 * The pure parts of the edge proxy's toxics: validation, and the arithmetic of their schedules
 * (latency with jitter, the token bucket of a bandwidth limit, the slicer's cuts) over explicit
 * time and randomness. The proxy itself, on real sockets, is test/safety/edge-proxy.test.ts.
 */
import { describe, expect, test } from "vitest";
import { HarnessError } from "../../src/errors.js";
import { MAX_DELAY_MS, TokenBucket, dueAt, latencyDelay, sliceBytes, sliceSizes, validateToxic } from "../../src/faults/toxics.js";
import { thrown } from "../support/errors.js";

/** A seeded generator (mulberry32), so that a failure is reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("validateToxic", () => {
  test("accepts each type, fills the defaults, and freezes the copy", () => {
    const latency = validateToxic("downstream", { type: "latency", latencyMs: 200 }, "api→db");
    expect(latency).toEqual({ stream: "downstream", toxic: { type: "latency", latencyMs: 200, jitterMs: 0 } });
    expect(Object.isFrozen(latency.toxic)).toBe(true);
    expect(validateToxic("upstream", { type: "bandwidth", bytesPerSecond: 65536 }, "e").toxic).toEqual({ type: "bandwidth", bytesPerSecond: 65536 });
    expect(validateToxic("upstream", { type: "timeout" }, "e").toxic).toEqual({ type: "timeout", timeoutMs: 0 });
    expect(validateToxic("upstream", { type: "reset_peer", timeoutMs: 50 }, "e").toxic).toEqual({ type: "reset_peer", timeoutMs: 50 });
    expect(validateToxic("downstream", { type: "slicer", averageSize: 10 }, "e").toxic).toEqual({ type: "slicer", averageSize: 10, sizeVariation: 0, delayMs: 0 });
    const input = { type: "latency" as const, latencyMs: 5 };
    validateToxic("upstream", input, "e");
    expect(input).toEqual({ type: "latency", latencyMs: 5 });
  });

  test.each([
    [
      "a stream that is neither",
      "sideways",
      { type: "latency", latencyMs: 1 },
      'Expected the stream of a toxic on edge "api→db" to be "upstream" (caller → target) or "downstream" (target → caller), got `"sideways"` (string)',
    ],
    ["no object", "upstream", null, 'Expected a toxic on edge "api→db" to be an object such as { type: "latency", latencyMs: 100 }, got `null`'],
    [
      "an unknown type",
      "upstream",
      { type: "slow_close", delay: 1 },
      'Expected `type` of a toxic on edge "api→db" to be one of latency, bandwidth, timeout, reset_peer, slicer, got `"slow_close"` (string)',
    ],
    [
      "a negative latency",
      "upstream",
      { type: "latency", latencyMs: -1 },
      'Expected `latencyMs` of the latency toxic on edge "api→db" to be a number of milliseconds from 0 to 2147483647, got `-1` (number)',
    ],
    ["a missing latency", "upstream", { type: "latency" }, 'Expected `latencyMs` of the latency toxic on edge "api→db" to be a number of milliseconds from 0 to 2147483647, got nothing'],
    ["a delay too long for a timer", "upstream", { type: "timeout", timeoutMs: MAX_DELAY_MS + 1 }, "`timeoutMs` of the timeout toxic"],
    ["NaN jitter", "upstream", { type: "latency", latencyMs: 1, jitterMs: Number.NaN }, "Expected `jitterMs` of the latency toxic"],
    [
      "a rate of 0",
      "downstream",
      { type: "bandwidth", bytesPerSecond: 0 },
      'Expected `bytesPerSecond` of the bandwidth toxic on edge "api→db" to be a number of bytes per second above 0, got `0` (number)',
    ],
    ["a rate given as a string", "downstream", { type: "bandwidth", bytesPerSecond: "64k" }, 'got `"64k"` (string)'],
    [
      "a fractional slice",
      "downstream",
      { type: "slicer", averageSize: 1.5 },
      'Expected `averageSize` of the slicer toxic on edge "api→db" to be an integer number of bytes from 1, got `1.5` (number)',
    ],
    [
      "a variation as large as the size",
      "downstream",
      { type: "slicer", averageSize: 10, sizeVariation: 10 },
      'Expected `sizeVariation` of the slicer toxic on edge "api→db" to be an integer number of bytes from 0 to averageSize - 1 (9), got `10` (number)',
    ],
    ["Toxiproxy's field name", "downstream", { type: "latency", latency: 100 }, 'Unknown field `latency` of the latency toxic on edge "api→db"; its fields: type, latencyMs, jitterMs'],
  ])("refuses %s with E_CONFIG and a message that names the field", (_what, stream, toxic, message) => {
    const error = thrown(() => validateToxic(stream, toxic, "api→db"));
    expect(error).toBeInstanceOf(HarnessError);
    expect(error.code).toBe("E_CONFIG");
    expect(error.service).toBe("api→db");
    expect(error.message).toContain(message);
  });
});

describe("latency schedule", () => {
  test("each chunk is held latency ± jitter, never below 0", () => {
    expect(latencyDelay(200, 0, () => 0.9)).toBe(200);
    expect(latencyDelay(100, 50, () => 0)).toBe(50);
    expect(latencyDelay(100, 50, () => 0.5)).toBe(100);
    expect(latencyDelay(100, 50, () => 0.999999)).toBeCloseTo(150, 3);
    expect(latencyDelay(10, 50, () => 0)).toBe(0);
    const random = seeded(7);
    const delays = Array.from({ length: 10_000 }, () => latencyDelay(100, 50, random));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(50);
    expect(Math.max(...delays)).toBeLessThan(150);
    const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
    expect(mean).toBeGreaterThan(98);
    expect(mean).toBeLessThan(102);
  });

  test("a chunk is never due before the one ahead of it, whatever its jitter", () => {
    const random = seeded(11);
    let previous = 0;
    const due: number[] = [];
    for (let arrived = 0; arrived < 1_000; arrived += 3) {
      const delay = latencyDelay(100, 80, random);
      previous = dueAt(arrived, delay, previous);
      expect(previous).toBeGreaterThanOrEqual(arrived + delay);
      due.push(previous);
    }
    expect(due).toEqual([...due].sort((a, b) => a - b));
    // Without jitter, every chunk is due exactly its latency after it arrived.
    expect(dueAt(40, 100, 130)).toBe(140);
  });
});

describe("token bucket", () => {
  test("slices are about 10 ms of the rate, from 1 byte to 64 KiB", () => {
    expect(sliceBytes(65_536)).toBe(656);
    expect(sliceBytes(50)).toBe(1);
    expect(sliceBytes(1e9)).toBe(65_536);
  });

  test("starts with one slice, refills at the rate, and says how long to wait", () => {
    const bucket = new TokenBucket(1_000, 0);
    expect(bucket.slice).toBe(10);
    expect(bucket.capacity).toBe(50);
    expect(bucket.take(0, 10)).toBe(true);
    expect(bucket.take(0, 1)).toBe(false);
    expect(bucket.waitMs(0, 10)).toBe(10);
    expect(bucket.take(5, 10)).toBe(false);
    expect(bucket.waitMs(5, 10)).toBe(5);
    expect(bucket.take(10, 10)).toBe(true);
    // Idle, it fills up to its capacity and no further.
    expect(bucket.take(10_000, 50)).toBe(true);
    expect(bucket.take(10_000, 1)).toBe(false);
  });

  test("metered over time with late timers, it passes the rate and never more than one burst above it", () => {
    const rate = 65_536;
    const bucket = new TokenBucket(rate, 0);
    const random = seeded(3);
    let now = 0;
    let sent = 0;
    const total = 256 * 1024;
    while (sent < total) {
      const bytes = Math.min(bucket.slice, total - sent);
      if (bucket.take(now, bytes)) {
        sent += bytes;
        expect(sent).toBeLessThanOrEqual(bucket.slice + (now * rate) / 1000);
      } else now += bucket.waitMs(now, bytes) + random() * 8; // a timer fires up to 8 ms late
    }
    // 256 KiB at 64 KiB/s: 4 s, less the first slice; late timers cost nothing (the bucket holds 50 ms).
    expect(now).toBeGreaterThan(3_950);
    expect(now).toBeLessThan(4_010);
  });
});

describe("slicer cuts", () => {
  test("pieces sum to the chunk, each the average ± the variation but the last", () => {
    const random = seeded(5);
    for (const length of [1, 99, 100, 101, 10_000, 65_536]) {
      const sizes = sliceSizes(length, 100, 30, random);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(length);
      for (const size of sizes.slice(0, -1)) {
        expect(size).toBeGreaterThanOrEqual(70);
        expect(size).toBeLessThanOrEqual(130);
      }
      expect(sizes.at(-1)).toBeGreaterThan(0);
      expect(sizes.at(-1)).toBeLessThanOrEqual(130);
    }
    expect(sliceSizes(10, 3, 0, random)).toEqual([3, 3, 3, 1]);
    expect(sliceSizes(0, 3, 0, random)).toEqual([]);
    expect(sliceSizes(5, 1, 0, random)).toEqual([1, 1, 1, 1, 1]);
  });
});
