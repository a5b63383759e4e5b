import type { EdgeFaults } from "../faults/edge-faults.js";
import type { FaultInfo, FaultStream, Toxic } from "../topology/fault-types.js";

/** A fault in place on an edge; `heal()` removes it (and only it). */
export interface Fault extends FaultInfo {
  heal(): Promise<void>;
}

interface Along {
  /** Which way the fault acts. Default: `downstream` (target → caller), as in Toxiproxy. */
  stream?: FaultStream;
}

/**
 * Faults on single edges (caller → target), Toxiproxy's toxics under its names: only on edges
 * declared before start (`faults: { edges: [[caller, target]] }` in the builder's options, or
 * `faultable: true` on the target), whose caller was given the address of a proxy of the harness.
 * Each acts at once on open connections and new ones; the harness's own connections to the target
 * (`addr`) are not touched. Each fault and heal is an `onEvent` event (`fault` / `healed`) and a
 * line in the caller's log.
 */
export class HarnessFaults<Names extends string = string> {
  readonly #edges: EdgeFaults;

  /** @internal */
  constructor(edges: EdgeFaults) {
    this.#edges = edges;
  }

  /** Toxiproxy's `latency`: each chunk is held `latencyMs` ± `jitterMs`. */
  delay(from: Names, to: Names, options: { latencyMs: number; jitterMs?: number } & Along): Promise<Fault> {
    const { stream, ...toxic } = options;
    return this.add(from, to, { type: "latency", ...toxic }, { stream });
  }

  /** Toxiproxy's `bandwidth`: at most `bytesPerSecond` pass. */
  limit(from: Names, to: Names, options: { bytesPerSecond: number } & Along): Promise<Fault> {
    const { stream, ...toxic } = options;
    return this.add(from, to, { type: "bandwidth", ...toxic }, { stream });
  }

  /** Toxiproxy's `timeout`: the connection is accepted, then nothing answers; closed after `timeoutMs` if given. */
  timeout(from: Names, to: Names, options: { timeoutMs?: number } & Along = {}): Promise<Fault> {
    const { stream, ...toxic } = options;
    return this.add(from, to, { type: "timeout", ...toxic }, { stream });
  }

  /** Toxiproxy's `reset_peer`: connections are reset (ECONNRESET), at once or after `timeoutMs`. */
  reset(from: Names, to: Names, options: { timeoutMs?: number } & Along = {}): Promise<Fault> {
    const { stream, ...toxic } = options;
    return this.add(from, to, { type: "reset_peer", ...toxic }, { stream });
  }

  /** Toxiproxy's `slicer`: data is cut into pieces of about `averageSize` bytes, `delayMs` apart. */
  slice(from: Names, to: Names, options: { averageSize: number; sizeVariation?: number; delayMs?: number } & Along): Promise<Fault> {
    const { stream, ...toxic } = options;
    return this.add(from, to, { type: "slicer", ...toxic }, { stream });
  }

  /** Any toxic, by Toxiproxy's name. */
  async add(from: Names, to: Names, toxic: Toxic, options: Along = {}): Promise<Fault> {
    const info = this.#edges.add(from, to, toxic, options.stream);
    return Object.freeze({ ...info, heal: async () => void this.#edges.remove(info.id) });
  }

  /** Removes every fault, or those on edges from `from` (to `to`). Partitions are healed by `harness.heal()`. */
  async heal(from?: Names, to?: Names): Promise<void> {
    this.#edges.heal(from, to);
  }

  /** The faults in place, oldest first. */
  list(): FaultInfo[] {
    return this.#edges.list();
  }
}
