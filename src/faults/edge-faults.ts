import { setTimeout as sleep } from "node:timers/promises";
import { debugFor } from "../debug.js";
import { HarnessError } from "../errors.js";
import { formatEndpoint } from "../plan/addresses.js";
import { edgeKey } from "../plan/fault-edges.js";
import type { Plan, PlannedProxy } from "../plan/plan.js";
import type { FaultInfo, FaultStream, Toxic } from "../topology/fault-types.js";
import type { HarnessEvent } from "../topology/types.js";
import { EdgeProxy } from "./edge-proxy.js";

const log = debugFor("faults");

/** How long a proxy waits for its listening address to appear on this host (a network being made). */
const ADDRESS_WAIT_MS = 30_000;

/** Where the run's fault news goes: its events, and the caller's log. */
export interface FaultNotes {
  emit(event: HarnessEvent): void;
  log(service: string, line: string): void;
}

interface EdgeEntry {
  readonly planned: PlannedProxy;
  proxy?: EdgeProxy;
}

/**
 * The run's fault edges: one proxy per edge of the plan, listening where the caller reaches this
 * host and forwarding to the target, idle until a fault is added. Faults are Toxiproxy's toxics on
 * the edge's proxy: they act at once on open connections and new ones, and `heal` removes them.
 * A partition between two groups also stalls their proxied edges (their traffic passes through
 * this process, where iptables rules of the harness host do not see it as theirs).
 */
export class EdgeFaults {
  readonly #edges = new Map<string, EdgeEntry>();
  readonly #faults = new Map<string, { info: FaultInfo; toxicIds: string[] }>();
  /** Toxic ids of the partition stalls, by edge. */
  readonly #stalls = new Map<string, string[]>();
  #next = 1;

  constructor(
    private readonly plan: Plan,
    private readonly notes: FaultNotes,
  ) {
    for (const planned of plan.proxies) this.#edges.set(edgeKey(planned.caller, planned.target), { planned });
  }

  /**
   * Starts the proxies of `caller`'s edges, right before `caller` starts (the run's stop closes them).
   * A proxy listens on an address of this host that may still be on its way — the run network's
   * gateway while the engine makes the network — so an address not there yet is waited for.
   */
  async openFor(caller: string, signal?: AbortSignal): Promise<void> {
    const entries = [...this.#edges.values()].filter((e) => e.planned.caller === caller && !e.proxy);
    await Promise.all(entries.map((entry) => this.#open(entry, signal)));
  }

  async #open(entry: EdgeEntry, signal: AbortSignal | undefined): Promise<void> {
    const { caller, target, listen, upstream } = entry.planned;
    const deadline = Date.now() + ADDRESS_WAIT_MS;
    for (;;) {
      try {
        entry.proxy = await EdgeProxy.listen({ host: listen.host, port: listen.port!, upstream: { host: upstream.host, port: upstream.port! }, name: `${caller} → ${target}` });
        log(`proxy ${caller} → ${target}: ${formatEndpoint(listen)} → ${formatEndpoint(upstream)}`);
        return;
      } catch (error) {
        const notYet = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code === "EADDRNOTAVAIL";
        if (!notYet || Date.now() > deadline || signal?.aborted) {
          throw new HarnessError((error as Error).message, { code: (error as HarnessError).code ?? "E_CONFIG", service: caller, cause: error });
        }
        await sleep(25);
      }
    }
  }

  /** Adds a fault on the edge `from` → `to`; it acts at once. */
  add(from: string, to: string, toxic: Toxic, stream: FaultStream = "downstream"): FaultInfo {
    const entry = this.#edge(from, to);
    const toxicIds: string[] = [];
    try {
      for (const s of stream === "both" ? (["upstream", "downstream"] as const) : [stream]) toxicIds.push(entry.proxy!.add(s, toxic).id);
    } catch (error) {
      for (const id of toxicIds) entry.proxy!.remove(id);
      throw error;
    }
    const info: FaultInfo = Object.freeze({ id: `fault-${this.#next++}`, from, to, stream, toxic: Object.freeze({ ...toxic }) });
    this.#faults.set(info.id, { info, toxicIds });
    this.#note("fault", info);
    return info;
  }

  /** Removes one fault; false when it was already healed. */
  remove(id: string): boolean {
    const fault = this.#faults.get(id);
    if (!fault) return false;
    const entry = this.#edges.get(edgeKey(fault.info.from, fault.info.to))!;
    for (const toxicId of fault.toxicIds) entry.proxy?.remove(toxicId);
    this.#faults.delete(id);
    this.#note("healed", fault.info);
    return true;
  }

  /** Removes every fault, or those of the edges from `from` (and to `to`); returns what was healed. */
  heal(from?: string, to?: string): FaultInfo[] {
    if (from !== undefined) this.#check(from);
    if (to !== undefined) this.#check(to);
    const healed = this.list().filter((f) => (from === undefined || f.from === from) && (to === undefined || f.to === to));
    for (const fault of healed) this.remove(fault.id);
    return healed;
  }

  /** The faults in place, oldest first. */
  list(): FaultInfo[] {
    return [...this.#faults.values()].map((f) => f.info);
  }

  /** A partition between `a` and `b`: their proxied edges stall both ways (new connections too) until `unstall()`. */
  stall(a: readonly string[], b: readonly string[]): void {
    for (const [key, entry] of this.#edges) {
      const { caller, target } = entry.planned;
      const crosses = (a.includes(caller) && b.includes(target)) || (b.includes(caller) && a.includes(target));
      if (!crosses || this.#stalls.has(key) || !entry.proxy) continue;
      this.#stalls.set(key, [entry.proxy.add("upstream", { type: "timeout" }).id, entry.proxy.add("downstream", { type: "timeout" }).id]);
    }
  }

  /** Ends every partition's stall. */
  unstall(): void {
    for (const [key, ids] of this.#stalls) for (const id of ids) this.#edges.get(key)?.proxy?.remove(id);
    this.#stalls.clear();
  }

  /** Closes every proxy and its connections (after the services stopped). */
  async close(): Promise<void> {
    this.#faults.clear();
    this.#stalls.clear();
    await Promise.all([...this.#edges.values()].map((entry) => entry.proxy?.close()));
  }

  #edge(from: string, to: string): EdgeEntry & { proxy: EdgeProxy } {
    this.#check(from);
    this.#check(to);
    const entry = this.#edges.get(edgeKey(from, to));
    if (!entry) {
      throw new HarnessError(
        `The edge "${from}" → "${to}" takes no faults: declare it before start, with \`faults: { edges: [["${from}", "${to}"]] }\` in the builder's options or \`faultable: true\` on "${to}"`,
        { code: "E_CONFIG", service: from },
      );
    }
    if (!entry.proxy) throw new HarnessError(`The fault proxy of "${from}" → "${to}" is not running (the run has not started, or has stopped)`, { code: "E_NOT_RUNNING", service: from });
    return entry as EdgeEntry & { proxy: EdgeProxy };
  }

  #check(name: string): void {
    if (this.plan.services[name]) return;
    throw new HarnessError(`There is no service "${name}" in this topology (${Object.keys(this.plan.services).join(", ")})`, { code: "E_CONFIG", service: name });
  }

  #note(state: "fault" | "healed", fault: FaultInfo): void {
    const line = `meshbed: ${state} ${describeFault(fault)}`;
    log(line);
    this.notes.log(fault.from, line);
    this.notes.emit({ service: fault.from, state, fault });
  }
}

/** `latency (latencyMs 200) on api → db, downstream`. */
function describeFault(fault: FaultInfo): string {
  const { type, ...attributes } = fault.toxic;
  const shown = Object.entries(attributes)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  return `${type}${shown ? ` (${shown})` : ""} on ${fault.from} → ${fault.to}, ${fault.stream}`;
}
