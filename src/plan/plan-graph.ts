import type { TargetKind } from "../topology/types.js";
import type { Location } from "./addresses.js";
import { type Plan, type ServiceAddresses, addrFor } from "./plan.js";

/**
 * A plan as a graph: its services grouped by where they run (this host, the run's containers,
 * each LAN node, each WireGuard node), an edge for each `dependsOn`, and for each service the
 * address every caller reaches it at. Pure: what `meshbed plan --format svg|mermaid|dot` draws
 * and what the status page colours.
 */
export interface PlanGraph {
  readonly runId: string;
  /** In drawing order: this host, the containers, then each LAN node, then each WireGuard node. */
  readonly groups: readonly GraphGroup[];
  /** In the plan's start order (level by level). */
  readonly services: readonly GraphService[];
  /** From a service to a service it depends on. */
  readonly edges: readonly GraphEdge[];
}

export interface GraphGroup {
  /** Stable and unique within the graph: "host", "containers", "lan:<host>", "wireguard:<host>". */
  readonly id: string;
  readonly location: Location;
  /** What a person reads: "this host", "containers", "LAN node 10.0.0.2", "WireGuard node edge-1". */
  readonly label: string;
  /** The node's host (as the topology names it), for the groups of nodes. */
  readonly node?: string;
  /** Its services, in start order. */
  readonly services: readonly string[];
}

export interface GraphService {
  readonly name: string;
  readonly target: TargetKind;
  /** The id of its group. */
  readonly group: string;
  /** Its start-up level: 0 has no dependencies. */
  readonly level: number;
  readonly port: number | undefined;
  /** "ip:port" from the harness host (where tests run). */
  readonly addr: string | undefined;
  readonly addresses: Readonly<ServiceAddresses>;
  /** The address each other service of the topology reaches it at (`X_ADDR`, else `X_HOST`); absent where it has none. */
  readonly addrFor: Readonly<Record<string, string>>;
  readonly dependsOn: readonly string[];
}

export interface GraphEdge {
  /** The service that depends… */
  readonly from: string;
  /** …on this one. */
  readonly to: string;
}

const LOCATION_ORDER: readonly Location[] = ["host", "container", "lan", "wireguard"];

/** The graph of a plan. */
export function planGraph(plan: Plan): PlanGraph {
  const order = plan.levels.flat();
  const groups = new Map<string, { id: string; location: Location; label: string; node?: string; services: string[] }>();
  const services: GraphService[] = [];
  for (const name of order) {
    const service = plan.services[name]!;
    const location = service.placement.location;
    const node = location === "lan" || location === "wireguard" ? nodeOf(service.spec.options as { host?: unknown }, service.placement.lanIp, name) : undefined;
    const id = node === undefined ? (location === "host" ? "host" : "containers") : `${location}:${node}`;
    let group = groups.get(id);
    if (!group) {
      group = { id, location, label: groupLabel(location, node, service.placement.lanIp), ...(node !== undefined && { node }), services: [] };
      groups.set(id, group);
    }
    group.services.push(name);
    const reachedBy: Record<string, string> = {};
    for (const caller of order) {
      if (caller === name) continue;
      const addr = addrFor(plan, name, caller);
      if (addr !== undefined) reachedBy[caller] = addr;
    }
    services.push(
      Object.freeze({
        name,
        target: service.target,
        group: id,
        level: service.level,
        port: service.port,
        addr: service.addr,
        addresses: service.addresses,
        addrFor: Object.freeze(reachedBy),
        dependsOn: Object.freeze([...service.spec.dependsOn]),
      }),
    );
  }
  // Stable: groups of one location keep the order their first service has in the start order.
  const sorted = [...groups.values()].sort((a, b) => LOCATION_ORDER.indexOf(a.location) - LOCATION_ORDER.indexOf(b.location));
  const edges = services.flatMap((s) => s.dependsOn.map((to) => Object.freeze({ from: s.name, to })));
  return Object.freeze({
    runId: plan.runId,
    groups: Object.freeze(sorted.map((g) => Object.freeze({ ...g, services: Object.freeze(g.services) }))),
    services: Object.freeze(services),
    edges: Object.freeze(edges),
  });
}

/** The node a remote service runs on: its `host` as the topology names it. */
function nodeOf(options: { host?: unknown }, lanIp: string | undefined, service: string): string {
  if (typeof options.host === "string") return options.host;
  return lanIp ?? service;
}

function groupLabel(location: Location, node: string | undefined, lanIp: string | undefined): string {
  switch (location) {
    case "host":
      return "this host";
    case "container":
      return "containers";
    case "lan":
    case "wireguard": {
      const kind = location === "lan" ? "LAN node" : "WireGuard node";
      return lanIp === undefined || lanIp === node ? `${kind} ${node}` : `${kind} ${node} (${lanIp})`;
    }
  }
}
