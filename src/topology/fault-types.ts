/**
 * The faults an edge can take (`harness.faults`): Toxiproxy's toxics, under its names and with
 * its attributes, so that its users recognise them. Types only.
 */
export type Toxic =
  /** Each chunk is held `latencyMs` ± `jitterMs` (order kept). */
  | { type: "latency"; latencyMs: number; jitterMs?: number }
  /** At most `bytesPerSecond` pass. */
  | { type: "bandwidth"; bytesPerSecond: number }
  /** Data stops; the connection is closed after `timeoutMs` (0 or none: held until healed). */
  | { type: "timeout"; timeoutMs?: number }
  /** The connection is reset (TCP RST), at once or after `timeoutMs`; new ones too. */
  | { type: "reset_peer"; timeoutMs?: number }
  /** Data is cut into pieces of about `averageSize` (± `sizeVariation`) bytes, `delayMs` apart. */
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
