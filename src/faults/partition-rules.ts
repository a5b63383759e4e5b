import { HarnessError } from "../errors.js";
import { type Endpoint, addressFor } from "../plan/addresses.js";
import type { Plan, PlannedService } from "../plan/plan.js";
import { targetOptions } from "../topology/target-options.js";

/**
 * Which iptables rules a partition needs, and where they go: a pure function of the plan (and, for
 * a process of the harness host, of the cgroup its group joined and the connections it has open).
 * The rules go where the side that opens a connection runs: on the harness host for processes and
 * containers (the run's own chains, hooked first into INPUT, OUTPUT and FORWARD), inside the node
 * for services on nodes. src/faults/partition.ts applies them; only the run's own chains, and the
 * jumps to them, are ever named.
 */

/** The hooks of the host's filter table that jump to the run's chains, and the suffix of each chain. */
export const HOST_HOOKS = [
  ["INPUT", "I"],
  ["OUTPUT", "O"],
  ["FORWARD", "F"],
] as const;
export type Hook = (typeof HOST_HOOKS)[number][0];

/** The run's own chains: `MB-<runId>-I|O|F` on the host, `MB-<runId>` on a node. Never another's. */
export function chainName(runId: string): string {
  // iptables allows 28 characters; a long run id is cut (its start is what names its other resources).
  return `MB-${runId.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 22)}`;
}

/** A rule, as iptables arguments after `-A CHAIN`. */
export type Rule = readonly string[];
/** The arguments of one `iptables -w …` command. */
export type Argv = readonly string[];

/** A TCP connection of a host process, from /proc/net/tcp. */
export interface TcpConnection {
  localPort: number;
  remoteIp: string;
  remotePort: number;
}

/** A process of the harness host, as a partition found it: the cgroup its group joined, and its open connections. */
export interface ProcessTraffic {
  /** The cgroup v2 path that `-m cgroup --path` matches: `/mb-<runId>-<service>`. */
  cgroup: string;
  connections: readonly TcpConnection[];
}

/** The rules inside one node: services of one node share its chain. */
export interface NodeRules {
  /** `user@host:port`. */
  label: string;
  /** The first service of the partition on that node: its SSH connection runs the commands. */
  service: string;
  /** `iptables -w` arguments, in order. Empty when its services have nothing to drop: its chain is made all the same. */
  commands: Argv[];
}

/** Every rule a partition adds, and where. */
export interface PartitionRules {
  /** On the harness host, in order, once the run's host chains exist (`hostChainSetup`). */
  host: Argv[];
  /** Inside each node, once the run's chain exists there (`nodeChainSetup`). */
  nodes: NodeRules[];
}

export const DROP = ["-m", "comment", "--comment", "meshbed-partition", "-j", "DROP"] as const;

/** Both groups are non-empty lists of the topology's services, and no service is on both sides. */
export function checkGroups(plan: Plan, a: readonly string[], b: readonly string[]): void {
  check(plan, a, "first");
  check(plan, b, "second");
  const overlap = a.filter((n) => b.includes(n));
  if (overlap.length > 0) {
    throw new HarnessError(`partition: ${overlap.map((n) => `"${n}"`).join(", ")} cannot be on both sides`, { code: "E_CONFIG", service: overlap[0] });
  }
}

function check(plan: Plan, names: readonly string[], which: string): void {
  if (!Array.isArray(names) || names.length === 0) {
    throw new HarnessError(`partition: the ${which} group must be a non-empty array of service names`, { code: "E_CONFIG" });
  }
  for (const name of names) {
    if (!(name in plan.services)) {
      throw new HarnessError(`partition: "${name}" is not a service of this topology (${Object.keys(plan.services).join(", ")})`, {
        code: "E_CONFIG",
        service: String(name),
      });
    }
  }
}

/**
 * The processes of the harness host whose traffic the partition of `a` and `b` drops, in the order
 * they are met: each must join a cgroup of the run's before `partitionRules` can tell it apart.
 */
export function cgroupSources(plan: Plan, a: readonly string[], b: readonly string[]): string[] {
  const sources = new Set<string>();
  for (const [from, to] of [...pairs(a, b), ...pairs(b, a)]) {
    const x = plan.services[from]!;
    if (x.placement.location === "host" && hostDestination(plan, x, plan.services[to]!)) sources.add(from);
  }
  return [...sources];
}

/**
 * The rules that part every service of `a` from every one of `b`, both ways. `processes`: what
 * `cgroupSources` found of the host's processes; one that is missing (not running, or no writable
 * cgroup v2 on the host) is parted by destination only.
 */
export function partitionRules(plan: Plan, a: readonly string[], b: readonly string[], processes: Readonly<Record<string, ProcessTraffic>> = {}): PartitionRules {
  const host: Record<Hook, Rule[]> = { INPUT: [], OUTPUT: [], FORWARD: [] };
  const nodes = new Map<string, { service: string; rules: Rule[] }>();
  for (const [from, to] of [...pairs(a, b), ...pairs(b, a)]) {
    const x = plan.services[from]!;
    const y = plan.services[to]!;
    if (x.placement.location === "host" || x.placement.location === "container") hostRules(plan, x, y, processes, host);
    else nodeRules(plan, x, y, nodes);
  }
  const chain = chainName(plan.runId);
  return {
    host: HOST_HOOKS.flatMap(([hook, suffix]) => dedupe(host[hook]).map((rule) => ["-A", `${chain}-${suffix}`, ...rule, ...DROP])),
    nodes: [...nodes].map(([label, { service, rules }]) => ({ label, service, commands: dedupe(rules).map((rule) => ["-A", chain, ...rule, ...DROP]) })),
  };
}

/** Where `x` (a process or a container) reaches `y` from the harness host, if there is anything of `y`'s own to drop. */
function hostDestination(plan: Plan, x: PlannedService, y: PlannedService): Endpoint | undefined {
  const to = addressFor(y.placement, x.placement, plan.hostAddresses);
  if (!to) return undefined;
  // A process of the harness host without a port is reached at the host's own address: there is
  // nothing of its own to drop (dropping the address would cut the host's loopback).
  if (to.port === undefined && y.placement.location === "host") return undefined;
  return to;
}

/** Rules on the harness host that stop `x` (a process or a container) from reaching `y`. */
function hostRules(plan: Plan, x: PlannedService, y: PlannedService, processes: Readonly<Record<string, ProcessTraffic>>, host: Record<Hook, Rule[]>): void {
  const to = hostDestination(plan, x, y);
  if (!to) return;
  const remote = y.placement.location === "lan" || y.placement.location === "wireguard";
  const dest = to.port === undefined ? ["-d", to.host] : ["-d", to.host, "-p", "tcp", "--dport", String(to.port)];
  if (x.placement.location === "host") {
    // A host process has no address of its own: what it sends to y's address is dropped on the way
    // out, told apart by its cgroup where there is one, and its connections already open by their ports.
    const traffic = processes[x.name];
    const match = traffic ? ["-m", "cgroup", "--path", traffic.cgroup] : [];
    if (to.port !== undefined) {
      host.OUTPUT.push([...match, ...dest]);
      for (const { localPort, remoteIp, remotePort } of traffic?.connections ?? []) {
        if (remoteIp !== to.host || remotePort !== to.port) continue;
        host.OUTPUT.push(["-p", "tcp", "--sport", String(localPort), "-d", to.host, "--dport", String(to.port)]);
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

/** Rules inside `x`'s node: every address of `y` when `y` is on a node, else `y`'s port on the harness host. */
function nodeRules(plan: Plan, x: PlannedService, y: PlannedService, nodes: Map<string, { service: string; rules: Rule[] }>): void {
  const label = nodeLabel(x);
  const entry = nodes.get(label) ?? { service: x.name, rules: [] };
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
  const to = addressFor(y.placement, x.placement, plan.hostAddresses);
  if (to?.port !== undefined) entry.rules.push(["-d", to.host, "-p", "tcp", "--dport", String(to.port)]);
}

function pairs(a: readonly string[], b: readonly string[]): [string, string][] {
  return a.flatMap((x) => b.map((y) => [x, y] as [string, string]));
}

function dedupe(rules: readonly Rule[]): Rule[] {
  const seen = new Map<string, Rule>();
  for (const rule of rules) seen.set(rule.join(" "), rule);
  return [...seen.values()];
}

/** The node a service runs on, as `user@host:port`: services of one node share its chain and its connection. */
export function nodeLabel(service: PlannedService): string {
  const target = targetOptions(service.spec, "remote_lan", "wireguard");
  return `${target.user ?? ""}@${target.host}:${target.ssh?.port ?? 22}`;
}

/** The run's chains on the harness host, each hooked first into its hook. */
export function hostChainSetup(runId: string): Argv[] {
  const chain = chainName(runId);
  return HOST_HOOKS.flatMap(([hook, suffix]) => [
    ["-N", `${chain}-${suffix}`],
    ["-I", hook, "1", "-j", `${chain}-${suffix}`],
  ]);
}

/** What heal undoes on the harness host, per hook: the jump to the run's chain, then its rules, then the chain. */
export function hostChainRemoval(chain: string): { chain: string; unhook: Argv; flush: Argv; remove: Argv }[] {
  return HOST_HOOKS.map(([hook, suffix]) => {
    const name = `${chain}-${suffix}`;
    return { chain: name, unhook: ["-D", hook, "-j", name], flush: ["-F", name], remove: ["-X", name] };
  });
}

/** The run's chain on a node, hooked first into INPUT and OUTPUT. */
export function nodeChainSetup(chain: string): Argv[] {
  return [
    ["-N", chain],
    ["-I", "INPUT", "1", "-j", chain],
    ["-I", "OUTPUT", "1", "-j", chain],
  ];
}

/** The shell script that runs `commands` on a node, each as `iptables -w …`, stopping at the first that fails. */
export function nodeScript(commands: readonly Argv[]): string {
  return commands.map((argv) => `iptables -w ${argv.join(" ")}`).join(" && ");
}

/** The shell script that removes the run's chain on a node (and the jumps to it). */
export function removeNodeChainScript(chain: string): string {
  return `for h in INPUT OUTPUT; do while iptables -w -D $h -j ${chain} 2>/dev/null; do :; done; done; iptables -w -F ${chain} 2>/dev/null; iptables -w -X ${chain} 2>/dev/null; ! iptables -w -S ${chain} >/dev/null 2>&1`;
}
