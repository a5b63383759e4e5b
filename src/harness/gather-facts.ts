import { createHash } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { StartError } from "../errors.js";
import { freePorts, isPortFree } from "../host/ports.js";
import type { HostAddresses } from "../plan/addresses.js";
import { edgeKey, faultEdges } from "../plan/fault-edges.js";
import { type HostFacts, type Plan, type ServiceIps, makePlan } from "../plan/plan.js";
import { loadRuntime } from "../runtimes/load-runtime.js";
import type { Runtime } from "../runtimes/runtime.js";
import type { TargetKind, TopologySpec } from "../topology/types.js";
import { newRunId } from "./run-id.js";

/** Targets whose `port` is a port of the harness host itself. */
const HOST_PORT_TARGETS = new Set<TargetKind>(["process"]);

/** Loads the runtime of every target the topology uses (each only when used). */
export async function loadRuntimes(spec: TopologySpec): Promise<Map<TargetKind, Runtime>> {
  const runtimes = new Map<TargetKind, Runtime>();
  for (const kind of new Set(spec.services.map((s) => s.target))) runtimes.set(kind, await loadRuntime(kind));
  return runtimes;
}

/**
 * Gathers the few facts the plan needs from the host and the runtimes (free ports, which fixed
 * ports are taken, container and node addresses) and makes the plan. Reads; creates nothing.
 */
export async function planTopology(spec: TopologySpec, runtimes?: ReadonlyMap<TargetKind, Runtime>): Promise<Plan> {
  if (runtimes) return makePlan(spec, await gatherHostFacts(spec, runtimes));
  // Only a plan (a dry run): the runtimes loaded for it let go of what they opened to read facts (SSH to nodes with containers).
  const own = await loadRuntimes(spec);
  try {
    return makePlan(spec, await gatherHostFacts(spec, own));
  } finally {
    await Promise.allSettled([...own.values()].map((r) => r.dispose?.()));
  }
}

export async function gatherHostFacts(spec: TopologySpec, runtimes: ReadonlyMap<TargetKind, Runtime>): Promise<HostFacts> {
  const runId = spec.options.runId ?? newRunId();
  const local = spec.services.filter((s) => HOST_PORT_TARGETS.has(s.target) && s.port !== undefined);
  // Each port probed once: two probes of one port at once would find it taken by each other (the plan
  // then says which two services want it).
  const fixed = [...new Map(local.filter((s) => s.port !== 0).map((s) => [s.port, s])).values()];
  const checks = await Promise.all(fixed.map(async (s) => [s, await isPortFree(s.port!)] as const));
  for (const [service, free] of checks) {
    if (free) continue;
    throw new StartError(`Port ${service.port} of service "${service.name}" is already in use on this host: stop what holds it, or give "${service.name}" \`port: 0\` to pick a free one`, {
      code: "E_PORT_IN_USE",
      service: service.name,
    });
  }
  const taken = new Set(local.map((s) => s.port!).filter((p) => p !== 0));
  const facts: HostFacts = {
    runId,
    runDir: spec.options.stateDir ?? path.join(os.tmpdir(), `harness-${runId}`),
    ports: {},
    hostPorts: {},
    ips: {},
    hostEnv: process.env,
    addresses: {},
  };
  const ports: Record<string, number> = {};
  const picking = local.filter((s) => s.port === 0);
  const picked = await freePorts(picking.length, taken);
  picking.forEach((service, i) => {
    ports[service.name] = picked[i]!;
    taken.add(picked[i]!);
  });
  const merged = { ports, hostPorts: {} as Record<string, number>, nodePorts: {} as Record<string, number>, ips: {} as Record<string, ServiceIps>, addresses: {} as HostAddresses };
  for (const [kind, runtime] of runtimes) {
    if (!runtime.gatherFacts) continue;
    const gather = () =>
      runtime.gatherFacts!(
        spec.services.filter((s) => s.target === kind),
        { runId, spec, takenPorts: taken },
      );
    // The mesh (network set-up, not a runtime) gathers its facts around those of the target that needs it.
    const part = kind === "wireguard" ? await (await import("../mesh/mesh-facts.js")).gatherMeshFacts(spec, gather) : await gather();
    Object.assign(merged.ports, part.ports);
    Object.assign(merged.hostPorts, part.hostPorts);
    Object.assign(merged.nodePorts, part.nodePorts);
    // Two runtimes may know addresses of one service (a LAN node's address, and its mesh address).
    for (const [name, ips] of Object.entries(part.ips ?? {})) merged.ips[name] = { ...merged.ips[name], ...ips };
    const { lanIpToward, ...addresses } = part.addresses ?? {};
    Object.assign(merged.addresses, addresses);
    if (lanIpToward) merged.addresses.lanIpToward = { ...merged.addresses.lanIpToward, ...lanIpToward };
    for (const port of [...Object.values(part.ports ?? {}), ...Object.values(part.hostPorts ?? {})]) taken.add(port);
  }
  // Last: a fault proxy's port is free of every port above.
  const edges = faultEdges(spec);
  const proxyPorts = await freePorts(edges.length, taken);
  const proxies = Object.fromEntries(edges.map((e, i) => [edgeKey(e.caller, e.target), proxyPorts[i]!]));
  return { ...facts, ...merged, proxyPorts: proxies, ...(spec.options.network?.dns && { dns: dnsFacts(runId, spec.options.network.dnsPort) }) };
}

/**
 * The run's DNS port (53 as root: the port resolvers reach; else 5353) and its loopback /24,
 * 127.a.b (a in 64..191), from the run id: concurrent runs answer on addresses of their own.
 */
function dnsFacts(runId: string, dnsPort: number | undefined): HostFacts["dns"] {
  const hash = createHash("sha256").update(runId).digest();
  return { port: dnsPort ?? (process.getuid?.() === 0 ? 53 : 5353), loopbackPrefix: `127.${64 + (hash[0]! % 128)}.${hash[1]!}` };
}
