/**
 * The faults an edge can take (`harness.faults`): Toxiproxy's toxics, under its names and with
 * its attributes, so that its users recognise them. Types only.
 */
export type Toxic =
  /** Every chunk is held `latencyMs` ± `jitterMs` (default 0), never below 0; chunks keep their order. */
  | { type: "latency"; latencyMs: number; jitterMs?: number }
  /** At most `bytesPerSecond`, metered by a token bucket in small slices (about 10 ms of the rate each). */
  | { type: "bandwidth"; bytesPerSecond: number }
  /**
   * No data gets through; after `timeoutMs` the proxy closes the connection (FIN, both sides). With
   * `timeoutMs` 0 or unset the connection stays open, data held until the toxic is removed, and then delivered.
   */
  | { type: "timeout"; timeoutMs?: number }
  /** Both sides are reset (TCP RST) at once, or `timeoutMs` after the toxic applies; data meanwhile is held. */
  | { type: "reset_peer"; timeoutMs?: number }
  /** Chunks are cut into pieces of `averageSize` ± `sizeVariation` (default 0) bytes, `delayMs` (default 0) apart. */
  | { type: "slicer"; averageSize: number; sizeVariation?: number; delayMs?: number };

/** `upstream`: caller → target; `downstream`: target → caller. */
export type Stream = "upstream" | "downstream";

/** Which way a fault acts: `downstream` (Toxiproxy's default), `upstream`, or both. */
export type FaultStream = Stream | "both";

/** A fault on one edge, as `harness.faults.list()` and the `fault` / `healed` events give it. */
export interface FaultInfo {
  readonly id: string;
  /** The caller. */
  readonly from: string;
  /** The target. */
  readonly to: string;
  readonly stream: FaultStream;
  readonly toxic: Toxic;
}
