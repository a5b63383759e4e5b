/**
 * The toxics of the edge proxy (edge-proxy.ts) as data, their validation, and the pure arithmetic of
 * their schedules: when a delayed chunk is due, how a token bucket meters bytes, where a chunk is
 * cut. Time and randomness are parameters, so that all of it is unit-tested without a socket or a clock.
 * The semantics follow Toxiproxy's toxics of the same names.
 */
import { ConfigError } from "../errors.js";

import type { Stream, Toxic } from "../topology/fault-types.js";

// The user's words for them live with the topology (the spec names them); the proxy runs them.
export type { Stream, Toxic } from "../topology/fault-types.js";

export type ToxicType = Toxic["type"];

export interface ActiveToxic {
  readonly id: string;
  readonly stream: Stream;
  readonly toxic: Toxic;
}

/** The longest delay a Node.js timer takes (2^31 - 1 ms, about 24.8 days). */
export const MAX_DELAY_MS = 2_147_483_647;
/** Slices larger than this gain nothing in smoothness and only make the bucket burstier. */
const MAX_SLICE_BYTES = 64 * 1024;

const FIELDS: Record<ToxicType, { required: readonly string[]; optional: readonly string[] }> = {
  latency: { required: ["latencyMs"], optional: ["jitterMs"] },
  bandwidth: { required: ["bytesPerSecond"], optional: [] },
  timeout: { required: [], optional: ["timeoutMs"] },
  reset_peer: { required: [], optional: ["timeoutMs"] },
  slicer: { required: ["averageSize"], optional: ["sizeVariation", "delayMs"] },
};

/**
 * `toxic` checked and copied (frozen), or a `ConfigError` (E_CONFIG) that names the field, the
 * edge (`edge`, as the proxy is named) and what was given.
 */
export function validateToxic(stream: unknown, toxic: unknown, edge: string): { stream: Stream; toxic: Toxic } {
  const where = `on edge "${edge}"`;
  if (stream !== "upstream" && stream !== "downstream") {
    throw new ConfigError(`Expected the stream of a toxic ${where} to be "upstream" (caller → target) or "downstream" (target → caller), got ${show(stream)}`, { code: "E_CONFIG", service: edge });
  }
  if (typeof toxic !== "object" || toxic === null || Array.isArray(toxic)) {
    throw new ConfigError(`Expected a toxic ${where} to be an object such as { type: "latency", latencyMs: 100 }, got ${show(toxic)}`, { code: "E_CONFIG", service: edge });
  }
  const t = toxic as Record<string, unknown>;
  const type = t.type;
  if (typeof type !== "string" || !Object.hasOwn(FIELDS, type)) {
    throw new ConfigError(`Expected \`type\` of a toxic ${where} to be one of ${Object.keys(FIELDS).join(", ")}, got ${show(type)}`, { code: "E_CONFIG", service: edge });
  }
  const fields = FIELDS[type as ToxicType];
  const known = ["type", ...fields.required, ...fields.optional];
  for (const key of Object.keys(t)) {
    if (!known.includes(key)) {
      throw new ConfigError(`Unknown field \`${key}\` of the ${type} toxic ${where}; its fields: ${known.join(", ")}`, { code: "E_CONFIG", service: edge });
    }
  }
  const field = (key: string, what: string, ok: (n: number) => boolean): number | undefined => {
    const value = t[key];
    if (value === undefined && !fields.required.includes(key)) return undefined;
    if (typeof value !== "number" || !Number.isFinite(value) || !ok(value)) {
      throw new ConfigError(`Expected \`${key}\` of the ${type} toxic ${where} to be ${what}, got ${show(value)}`, { code: "E_CONFIG", service: edge });
    }
    return value;
  };
  const ms = (key: string) => field(key, `a number of milliseconds from 0 to ${MAX_DELAY_MS}`, (n) => n >= 0 && n <= MAX_DELAY_MS);
  let checked: Toxic;
  switch (type as ToxicType) {
    case "latency":
      checked = { type: "latency", latencyMs: ms("latencyMs")!, jitterMs: ms("jitterMs") ?? 0 };
      break;
    case "bandwidth":
      checked = { type: "bandwidth", bytesPerSecond: field("bytesPerSecond", "a number of bytes per second above 0", (n) => n > 0)! };
      break;
    case "timeout":
      checked = { type: "timeout", timeoutMs: ms("timeoutMs") ?? 0 };
      break;
    case "reset_peer":
      checked = { type: "reset_peer", timeoutMs: ms("timeoutMs") ?? 0 };
      break;
    case "slicer": {
      const averageSize = field("averageSize", "an integer number of bytes from 1", (n) => Number.isInteger(n) && n >= 1)!;
      const sizeVariation = field("sizeVariation", `an integer number of bytes from 0 to averageSize - 1 (${averageSize - 1})`, (n) => Number.isInteger(n) && n >= 0 && n < averageSize) ?? 0;
      checked = { type: "slicer", averageSize, sizeVariation, delayMs: ms("delayMs") ?? 0 };
      break;
    }
  }
  return { stream, toxic: Object.freeze(checked) };
}

/** The hold of one chunk under a latency toxic: latency ± jitter (uniform), never below 0. `random()` is in [0, 1). */
export function latencyDelay(latencyMs: number, jitterMs: number, random: () => number): number {
  return Math.max(0, latencyMs + (random() * 2 - 1) * jitterMs);
}

/**
 * When a chunk that reached a latency toxic at `arrivedAt` is due: after its own delay, and never
 * before the chunk ahead of it (`previousDueAt`), so that the order holds whatever the jitter.
 */
export function dueAt(arrivedAt: number, delayMs: number, previousDueAt: number): number {
  return Math.max(arrivedAt + delayMs, previousDueAt);
}

/**
 * The size of the slices a bandwidth toxic meters: about 10 ms of its rate (at least 1 byte, at most
 * 64 KiB), so that the rate is smooth at the scale a test measures.
 */
export function sliceBytes(bytesPerSecond: number): number {
  return Math.min(MAX_SLICE_BYTES, Math.max(1, Math.ceil(bytesPerSecond / 100)));
}

/**
 * A token bucket over explicit time (ms): `rate` bytes per second accrue up to `capacity`. It holds
 * several slices' worth, so that a timer that fires late costs no bandwidth; it starts with one slice.
 */
export class TokenBucket {
  readonly slice: number;
  readonly capacity: number;
  #tokens: number;
  #at: number;

  constructor(
    readonly bytesPerSecond: number,
    now: number,
  ) {
    this.slice = sliceBytes(bytesPerSecond);
    this.capacity = Math.max(2 * this.slice, Math.ceil(bytesPerSecond * 0.05));
    this.#tokens = this.slice;
    this.#at = now;
  }

  #refill(now: number): void {
    if (now > this.#at) this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#at) * this.bytesPerSecond) / 1000);
    this.#at = Math.max(this.#at, now);
  }

  /** Takes `bytes` (at most one slice) if the bucket holds them: true, or false and nothing taken. */
  take(now: number, bytes: number): boolean {
    this.#refill(now);
    if (this.#tokens < bytes) return false;
    this.#tokens -= bytes;
    return true;
  }

  /** How long until `bytes` can be taken (0: now). */
  waitMs(now: number, bytes: number): number {
    this.#refill(now);
    return Math.max(0, ((bytes - this.#tokens) * 1000) / this.bytesPerSecond);
  }
}

/**
 * Where a slicer cuts a chunk of `length` bytes: the sizes of its pieces, in order, summing to
 * `length`, each `averageSize` ± `sizeVariation` but the last, which may be shorter.
 */
export function sliceSizes(length: number, averageSize: number, sizeVariation: number, random: () => number): number[] {
  const sizes: number[] = [];
  let left = length;
  while (left > 0) {
    const size = Math.min(left, averageSize + Math.round((random() * 2 - 1) * sizeVariation));
    sizes.push(size);
    left -= size;
  }
  return sizes;
}

function show(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "`null`";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  const text = typeof value === "string" ? JSON.stringify(value) : String(value);
  return `\`${text.length > 60 ? `${text.slice(0, 57)}...` : text}\` (${typeof value})`;
}
