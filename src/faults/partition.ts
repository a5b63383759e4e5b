import path from "node:path";
import { debugFor } from "../debug.js";
import { HarnessError } from "../errors.js";
import type { Plan, PlannedService } from "../plan/plan.js";
import type { RunningService } from "../runtimes/runtime.js";
import { targetOptions } from "../topology/target-options.js";
import type { RunState } from "../state/run-state.js";
import { iptables, iptablesNow, removeHostChains } from "./iptables.js";
import { cgroupName, cgroupRoot, groupPids, moveInto, removeCgroup, tcpConnections } from "./partition-cgroups.js";
import {
  type ProcessTraffic,
  cgroupSources,
  chainName,
  checkGroups,
  hostChainRemoval,
  hostChainSetup,
  nodeChainSetup,
  nodeScript,
  partitionRules,
  removeNodeChainScript,
} from "./partition-rules.js";

const log = debugFor("faults");

type RunAsRoot = NonNullable<RunningService["runAsRoot"]>;

/** What partitions need of a service of the run (the harness's ServiceController is one): what runs now, if anything. */
export interface PartitionMember {
  readonly service: PlannedService;
  readonly running: RunningService | undefined;
}

/**
 * Network partitions between groups of services, with the iptables DROP rules of partition-rules.ts
 * placed where the side that opens a connection runs: on the harness host for processes and
 * containers (the run's own chains, hooked first into INPUT, OUTPUT and FORWARD), inside the node
 * for services on nodes (over the service's own SSH connection, as root). Every chain is recorded
 * in the run state before it is made, so that the reaper removes it after a crash; `heal()` and the
 * run's stop remove them all. Rules of anyone else are never touched: only the run's chains and the jumps to them.
 */
export class Partitions {
  #hostReady = false;
  /**
   * Node label → how to run a command there as root, kept from when its chain was made: the node's
   * connection outlives a service stopped meanwhile (the runtime closes it after `dispose`).
   */
  readonly #nodes = new Map<string, { controller: PartitionMember; runAsRoot: RunAsRoot }>();
  #queue: Promise<unknown> = Promise.resolve();
  /** Where cgroup v2 is writable (null: nowhere), found at the first partition. */
  #cgroupRoot: string | null | undefined;
  /** Host process services moved into a cgroup of the run's, and where each pid came from. */
  readonly #cgroups = new Map<string, { dir: string; origins: Map<number, string> }>();

  constructor(
    private readonly plan: Plan,
    private readonly state: RunState,
    private readonly controllers: ReadonlyMap<string, PartitionMember>,
  ) {}

  /** Connections between any service of `a` and any of `b` fail (both ways) until `heal()`. */
  partition(a: readonly string[], b: readonly string[]): Promise<void> {
    return this.#serial(() => this.#partition(a, b));
  }

  /** Removes every partition of the run. */
  heal(): Promise<void> {
    return this.#serial(() => this.#removeAll());
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => {});
    return next;
  }

  async #partition(a: readonly string[], b: readonly string[]): Promise<void> {
    checkGroups(this.plan, a, b);
    const rules = partitionRules(this.plan, a, b, this.#joinCgroups(cgroupSources(this.plan, a, b)));
    if (rules.host.length > 0) {
      await this.#ensureHostChains();
      for (const args of rules.host) await iptables(args);
    }
    for (const { label, service, commands } of rules.nodes) {
      const controller = this.controllers.get(service)!;
      await this.#ensureNodeChain(label, controller.service, controller);
      await this.#onNode(label, controller, nodeScript(commands));
    }
    log(`partition ${JSON.stringify(a)} | ${JSON.stringify(b)}: ${rules.host.length} host rules, ${rules.nodes.length} nodes`);
  }

  /**
   * Host processes' own traffic: each moves (its process group) into a cgroup of the run's, made
   * and recorded now, and its open connections are read. None for a process that is not running,
   * nor anywhere when the host has no writable cgroup v2.
   */
  #joinCgroups(names: readonly string[]): Record<string, ProcessTraffic> {
    const traffic: Record<string, ProcessTraffic> = {};
    for (const service of names) {
      const pgid = this.controllers.get(service)?.running?.info().pid;
      this.#cgroupRoot ??= cgroupRoot() ?? null;
      if (pgid === undefined || this.#cgroupRoot === null) continue;
      const name = cgroupName(this.plan.runId, service);
      const dir = path.join(this.#cgroupRoot, name);
      const pids = groupPids(pgid);
      if (!this.#cgroups.has(service)) {
        this.state.record({ kind: "firewall-cgroup", id: dir, root: this.#cgroupRoot });
        this.#cgroups.set(service, { dir, origins: new Map() });
      }
      const entry = this.#cgroups.get(service)!;
      for (const [pid, origin] of moveInto(dir, pids)) if (!entry.origins.has(pid)) entry.origins.set(pid, origin);
      traffic[service] = { cgroup: `/${name}`, connections: tcpConnections(pids) };
    }
    return traffic;
  }

  async #ensureHostChains(): Promise<void> {
    if (this.#hostReady) return;
    const chain = chainName(this.plan.runId);
    // Recorded before it exists: a crash in between leaves nothing the reaper does not know of.
    this.state.record({ kind: "firewall-host", id: chain });
    this.#hostReady = true;
    for (const args of hostChainSetup(this.plan.runId)) await iptables(args);
  }

  async #ensureNodeChain(label: string, service: PlannedService, controller: PartitionMember): Promise<void> {
    if (this.#nodes.has(label)) return;
    const chain = chainName(this.plan.runId);
    const { host, user, ssh } = targetOptions(service.spec, "remote_lan", "wireguard");
    // As ssh-reaper's nodeForState (not imported: it would load ssh2 for every run): no secret in the state file.
    const { privateKey: _, ...rest } = ssh ?? {};
    this.state.record({ kind: "firewall-node", id: `${label}:${chain}`, chain, node: { host, user, ssh: rest } });
    this.#nodes.set(label, { controller, runAsRoot: this.#runAsRoot(label, controller) });
    await this.#onNode(label, controller, nodeScript(nodeChainSetup(chain)));
  }

  #runAsRoot(label: string, controller: PartitionMember): RunAsRoot {
    const running = controller.running;
    if (!running?.runAsRoot) {
      throw new HarnessError(`partition: service "${controller.service.name}" is not running, so its node ${label} cannot be reached`, {
        code: "E_NOT_RUNNING",
        service: controller.service.name,
      });
    }
    return running.runAsRoot.bind(running);
  }

  async #onNode(label: string, controller: PartitionMember, script: string): Promise<void> {
    const run = this.#nodes.get(label)?.runAsRoot ?? this.#runAsRoot(label, controller);
    const result = await run(script);
    if (result.code !== 0) {
      throw new HarnessError(`partition: iptables on ${label} failed (exit ${result.code}): ${result.stderr.trim()}; the node needs iptables and root (or sudo without a password)`, {
        code: "E_FIREWALL",
        service: controller.service.name,
      });
    }
  }

  /** Removes the run's chains everywhere; tries every one, reports every failure. */
  async #removeAll(): Promise<void> {
    const errors: string[] = [];
    const chain = chainName(this.plan.runId);
    if (this.#hostReady) {
      try {
        await removeHostChains(chain);
        this.state.forget("firewall-host", chain);
        this.#hostReady = false;
      } catch (error) {
        errors.push(`host: ${(error as Error).message}`);
      }
    }
    for (const [service, { dir, origins }] of this.#cgroups) {
      try {
        removeCgroup(this.#cgroupRoot!, dir, origins);
        this.state.forget("firewall-cgroup", dir);
        this.#cgroups.delete(service);
      } catch (error) {
        errors.push(`cgroup ${dir}: ${(error as Error).message}`);
      }
    }
    for (const [label, { controller }] of this.#nodes) {
      try {
        await this.#onNode(label, controller, removeNodeChainScript(chain));
        this.state.forget("firewall-node", `${label}:${chain}`);
        this.#nodes.delete(label);
      } catch (error) {
        errors.push(`${label}: ${(error as Error).message}`);
      }
    }
    if (errors.length > 0) throw new HarnessError(`Could not remove the run's firewall rules: ${errors.join("; ")}`, { code: "E_FIREWALL" });
  }

  /** Synchronous last resort at the harness process's `exit`: the host's chains go (nodes' wait for the reaper). */
  removeHostNow(): void {
    for (const { dir, origins } of this.#cgroups.values()) {
      try {
        removeCgroup(this.#cgroupRoot!, dir, origins);
      } catch {
        // Left to the reaper.
      }
    }
    if (!this.#hostReady) return;
    for (const { unhook, flush, remove } of hostChainRemoval(chainName(this.plan.runId))) {
      // A failure: gone already, or left to the reaper.
      for (const args of [unhook, flush, remove]) iptablesNow(args);
    }
  }

  /** At the run's stop, before services stop (a node's SSH connection is still there). */
  dispose(): Promise<void> {
    return this.heal();
  }
}
