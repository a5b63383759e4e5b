import { execFile, execFileSync } from "node:child_process";
import path from "node:path";
import { debugFor } from "../debug.js";
import { HarnessError } from "../errors.js";
import { addressFor } from "../plan/addresses.js";
import type { Plan, PlannedService } from "../plan/plan.js";
import type { RunningService } from "../runtimes/runtime.js";
import { targetOptions } from "../topology/target-options.js";
import type { RunState } from "../state/run-state.js";
import { cgroupName, cgroupRoot, groupPids, moveInto, openConnections, removeCgroup } from "./partition-cgroups.js";
import type { ServiceController } from "./service-controller.js";

const log = debugFor("faults");

/** The hooks of the host's filter table that jump to the run's chains, and the suffix of each chain. */
const HOST_HOOKS = [
  ["INPUT", "I"],
  ["OUTPUT", "O"],
  ["FORWARD", "F"],
] as const;
type Hook = (typeof HOST_HOOKS)[number][0];

/** The run's own chains: `MB-<runId>-I|O|F` on the host, `MB-<runId>` on a node. Never another's. */
export function chainName(runId: string): string {
  // iptables allows 28 characters; a long run id is cut (its start is what names its other resources).
  return `MB-${runId.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 22)}`;
}

/** A rule, as iptables arguments after `-A CHAIN`. */
type Rule = readonly string[];
type RunAsRoot = NonNullable<RunningService["runAsRoot"]>;

interface NodeRules {
  service: PlannedService;
  controller: ServiceController;
  rules: Rule[];
}

/**
 * Network partitions between groups of services, with iptables DROP rules placed where the side
 * that opens a connection runs: on the harness host for processes and containers (the run's own
 * chains, hooked first into INPUT, OUTPUT and FORWARD), inside the node for services on nodes
 * (over the service's own SSH connection, as root). Every chain is recorded in the run state
 * before it is made, so that the reaper removes it after a crash; `heal()` and the run's stop
 * remove them all. Rules of anyone else are never touched: only the run's chains and the jumps to them.
 */
export class Partitions {
  #hostReady = false;
  /**
   * Node label → how to run a command there as root, kept from when its chain was made: the node's
   * connection outlives a service stopped meanwhile (the runtime closes it after `dispose`).
   */
  readonly #nodes = new Map<string, { controller: ServiceController; runAsRoot: RunAsRoot }>();
  #queue: Promise<unknown> = Promise.resolve();
  /** Where cgroup v2 is writable (null: nowhere), found at the first partition. */
  #cgroupRoot: string | null | undefined;
  /** Host process services moved into a cgroup of the run's, and where each pid came from. */
  readonly #cgroups = new Map<string, { dir: string; origins: Map<number, string> }>();

  constructor(
    private readonly plan: Plan,
    private readonly state: RunState,
    private readonly controllers: ReadonlyMap<string, ServiceController>,
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
    this.#check(a, "first");
    this.#check(b, "second");
    const overlap = a.filter((n) => b.includes(n));
    if (overlap.length > 0) {
      throw new HarnessError(`partition: ${overlap.map((n) => `"${n}"`).join(", ")} cannot be on both sides`, { code: "E_CONFIG", service: overlap[0] });
    }
    const host: Record<Hook, Rule[]> = { INPUT: [], OUTPUT: [], FORWARD: [] };
    const nodes = new Map<string, NodeRules>();
    for (const [from, to] of [...pairs(a, b), ...pairs(b, a)]) {
      const x = this.plan.services[from]!;
      const y = this.plan.services[to]!;
      if (x.placement.location === "host" || x.placement.location === "container") this.#hostRules(x, y, host);
      else this.#nodeRules(x, y, nodes);
    }
    const hostRules = Object.values(host).some((r) => r.length > 0);
    if (hostRules) {
      await this.#ensureHostChains();
      for (const [hook, suffix] of HOST_HOOKS) {
        for (const rule of dedupe(host[hook])) await iptables(["-A", `${chainName(this.plan.runId)}-${suffix}`, ...rule, ...DROP]);
      }
    }
    for (const [label, { service, controller, rules }] of nodes) {
      await this.#ensureNodeChain(label, service, controller);
      const chain = chainName(this.plan.runId);
      const script = dedupe(rules)
        .map((rule) => `iptables -w -A ${chain} ${rule.join(" ")} ${DROP.join(" ")}`)
        .join(" && ");
      await this.#onNode(label, controller, script);
    }
    log(`partition ${JSON.stringify(a)} | ${JSON.stringify(b)}: ${dedupe(Object.values(host).flat()).length} host rules, ${nodes.size} nodes`);
  }

  /** Rules on the harness host that stop `x` (a process or a container) from reaching `y`. */
  #hostRules(x: PlannedService, y: PlannedService, host: Record<Hook, Rule[]>): void {
    const to = addressFor(y.placement, x.placement, this.plan.hostAddresses);
    if (!to) return;
    const remote = y.placement.location === "lan" || y.placement.location === "wireguard";
    // A process of the harness host without a port is reached at the host's own address: there is
    // nothing of its own to drop (dropping the address would cut the host's loopback).
    if (to.port === undefined && y.placement.location === "host") return;
    const dest = to.port === undefined ? ["-d", to.host] : ["-d", to.host, "-p", "tcp", "--dport", String(to.port)];
    if (x.placement.location === "host") {
      // A host process has no address of its own: what it sends to y's address is dropped on the way
      // out, told apart by its cgroup where there is one, and its connections already open by their ports.
      const { match, pids } = this.#processCgroup(x);
      if (to.port !== undefined) {
        host.OUTPUT.push([...match, ...dest]);
        for (const port of match.length > 0 ? openConnections(pids, to.host, to.port) : []) {
          host.OUTPUT.push(["-p", "tcp", "--sport", String(port), "-d", to.host, "--dport", String(to.port)]);
        }
      } else if (!remote) host.OUTPUT.push([...match, ...dest]);
      else {
        // A node without a port: all of it, but for the SSH connection the harness keeps to it.
        const ssh = String(targetOptions(y.spec, "remote_lan", "wireguard").ssh?.port ?? 22);
        host.OUTPUT.push([...match, "-d", to.host, "-p", "tcp", "!", "--dport", ssh], [...match, "-d", to.host, "!", "-p", "tcp"]);
      }
      return;
    }
    const source = ["-s", x.placement.containerIp!];
    // To a process: the host's gateway address (INPUT); to a container or a node: routed (FORWARD), all ports of a node.
    if (y.placement.location === "host") host.INPUT.push([...source, ...dest]);
    else host.FORWARD.push(remote ? [...source, "-d", to.host] : [...source, ...dest]);
  }

  /**
   * The iptables match of a host process's own traffic (its cgroup, made and joined by its process
   * group now), and its group's pids; no match where the host has no writable cgroup v2.
   */
  #processCgroup(x: PlannedService): { match: string[]; pids: number[] } {
    const pgid = this.controllers.get(x.name)?.running?.info().pid;
    this.#cgroupRoot ??= cgroupRoot() ?? null;
    if (pgid === undefined || this.#cgroupRoot === null) return { match: [], pids: [] };
    const name = cgroupName(this.plan.runId, x.name);
    const dir = path.join(this.#cgroupRoot, name);
    const pids = groupPids(pgid);
    if (!this.#cgroups.has(x.name)) {
      this.state.record({ kind: "firewall-cgroup", id: dir, root: this.#cgroupRoot });
      this.#cgroups.set(x.name, { dir, origins: new Map() });
    }
    const entry = this.#cgroups.get(x.name)!;
    for (const [pid, origin] of moveInto(dir, pids)) if (!entry.origins.has(pid)) entry.origins.set(pid, origin);
    return { match: ["-m", "cgroup", "--path", `/${name}`], pids };
  }

  /** Rules inside `x`'s node: every address of `y` when `y` is on a node, else `y`'s port on the harness host. */
  #nodeRules(x: PlannedService, y: PlannedService, nodes: Map<string, NodeRules>): void {
    const controller = this.controllers.get(x.name)!;
    const label = nodeLabel(x);
    const entry = nodes.get(label) ?? { service: x, controller, rules: [] };
    nodes.set(label, entry);
    const own = new Set([x.placement.lanIp, x.placement.meshIp].filter(Boolean));
    if (y.placement.location === "lan" || y.placement.location === "wireguard") {
      for (const ip of new Set([y.placement.lanIp, y.placement.meshIp])) {
        // Two services of one node cannot be parted by address: they share it.
        if (ip === undefined || own.has(ip)) continue;
        entry.rules.push(["-d", ip], ["-s", ip]);
      }
      return;
    }
    // The harness host also holds this node's SSH connection: only y's own port is cut.
    const to = addressFor(y.placement, x.placement, this.plan.hostAddresses);
    if (to?.port !== undefined) entry.rules.push(["-d", to.host, "-p", "tcp", "--dport", String(to.port)]);
  }

  #check(names: readonly string[], which: string): void {
    if (!Array.isArray(names) || names.length === 0) {
      throw new HarnessError(`partition: the ${which} group must be a non-empty array of service names`, { code: "E_CONFIG" });
    }
    for (const name of names) {
      if (!(name in this.plan.services)) {
        throw new HarnessError(`partition: "${name}" is not a service of this topology (${Object.keys(this.plan.services).join(", ")})`, {
          code: "E_CONFIG",
          service: String(name),
        });
      }
    }
  }

  async #ensureHostChains(): Promise<void> {
    if (this.#hostReady) return;
    const chain = chainName(this.plan.runId);
    // Recorded before it exists: a crash in between leaves nothing the reaper does not know of.
    this.state.record({ kind: "firewall-host", id: chain });
    this.#hostReady = true;
    for (const [hook, suffix] of HOST_HOOKS) {
      await iptables(["-N", `${chain}-${suffix}`]);
      await iptables(["-I", hook, "1", "-j", `${chain}-${suffix}`]);
    }
  }

  async #ensureNodeChain(label: string, service: PlannedService, controller: ServiceController): Promise<void> {
    if (this.#nodes.has(label)) return;
    const chain = chainName(this.plan.runId);
    const { host, user, ssh } = targetOptions(service.spec, "remote_lan", "wireguard");
    // As ssh-reaper's nodeForState (not imported: it would load ssh2 for every run): no secret in the state file.
    const { privateKey: _, ...rest } = ssh ?? {};
    this.state.record({ kind: "firewall-node", id: `${label}:${chain}`, chain, node: { host, user, ssh: rest } });
    this.#nodes.set(label, { controller, runAsRoot: this.#runAsRoot(label, controller) });
    await this.#onNode(label, controller, `iptables -w -N ${chain} && iptables -w -I INPUT 1 -j ${chain} && iptables -w -I OUTPUT 1 -j ${chain}`);
  }

  #runAsRoot(label: string, controller: ServiceController): RunAsRoot {
    const running = controller.running;
    if (!running?.runAsRoot) {
      throw new HarnessError(`partition: service "${controller.service.name}" is not running, so its node ${label} cannot be reached`, {
        code: "E_NOT_RUNNING",
        service: controller.service.name,
      });
    }
    return running.runAsRoot.bind(running);
  }

  async #onNode(label: string, controller: ServiceController, script: string): Promise<void> {
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
    const chain = chainName(this.plan.runId);
    for (const [hook, suffix] of HOST_HOOKS) {
      for (const args of [["-D", hook, "-j", `${chain}-${suffix}`], ["-F", `${chain}-${suffix}`], ["-X", `${chain}-${suffix}`]]) {
        try {
          execFileSync("iptables", ["-w", ...args], { stdio: "ignore" });
        } catch {
          // Gone already, or left to the reaper.
        }
      }
    }
  }

  /** At the run's stop, before services stop (a node's SSH connection is still there). */
  dispose(): Promise<void> {
    return this.heal();
  }
}

const DROP = ["-m", "comment", "--comment", "meshbed-partition", "-j", "DROP"] as const;

function pairs(a: readonly string[], b: readonly string[]): [string, string][] {
  return a.flatMap((x) => b.map((y) => [x, y] as [string, string]));
}

function dedupe(rules: readonly Rule[]): Rule[] {
  const seen = new Map<string, Rule>();
  for (const rule of rules) seen.set(rule.join(" "), rule);
  return [...seen.values()];
}

function nodeLabel(service: PlannedService): string {
  const target = targetOptions(service.spec, "remote_lan", "wireguard");
  return `${target.user ?? ""}@${target.host}:${target.ssh?.port ?? 22}`;
}

/** `iptables -w …` on the harness host (no shell); rejects with its stderr. */
export function iptables(args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("iptables", ["-w", ...args], { encoding: "utf8" }, (error, _stdout, stderr) => {
      if (!error) return resolve();
      reject(new HarnessError(`iptables ${args.join(" ")} failed: ${stderr.trim() || error.message}`, { code: "E_FIREWALL", cause: error }));
    });
  });
}

/** Removes the jumps to the run's host chains, then the chains; what is already gone is fine. */
export async function removeHostChains(chain: string): Promise<void> {
  for (const [hook, suffix] of HOST_HOOKS) {
    const name = `${chain}-${suffix}`;
    // One jump was inserted, but a crash between two runs of insert could have left more.
    for (let i = 0; i < 10; i++) {
      if (!(await iptables(["-D", hook, "-j", name]).then(() => true, () => false))) break;
    }
    await iptables(["-F", name]).catch(() => {});
    await iptables(["-X", name]).catch(() => {});
  }
  const left = await listChains();
  const still = HOST_HOOKS.map(([, s]) => `${chain}-${s}`).filter((n) => left.includes(n));
  if (still.length > 0) throw new Error(`chains ${still.join(", ")} are still there`);
}

function listChains(): Promise<string[]> {
  return new Promise((resolve) => {
    execFile("iptables", ["-w", "-S"], { encoding: "utf8" }, (error, stdout) => {
      resolve(error ? [] : [...stdout.matchAll(/^-N (\S+)$/gm)].map((m) => m[1]!));
    });
  });
}

/** The shell script that removes the run's chain on a node (and the jumps to it). */
export function removeNodeChainScript(chain: string): string {
  return `for h in INPUT OUTPUT; do while iptables -w -D $h -j ${chain} 2>/dev/null; do :; done; done; iptables -w -F ${chain} 2>/dev/null; iptables -w -X ${chain} 2>/dev/null; ! iptables -w -S ${chain} >/dev/null 2>&1`;
}
