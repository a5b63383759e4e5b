import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { StartError } from "../errors.js";
import { freePort, isPortFree } from "../host/ports.js";
import type { TopologySpec } from "../spec/types.js";
import { type HostFacts, type Plan, makePlan } from "./plan.js";

/** Targets that listen on the harness host's own ports. */
const HOST_PORT_TARGETS = new Set(["process"]);

/**
 * Gathers the few facts the plan needs from the host (free ports, which fixed ports are taken)
 * and makes the plan. Only reads the host; creates nothing.
 */
export async function planTopology(spec: TopologySpec): Promise<Plan> {
  return makePlan(spec, await gatherHostFacts(spec));
}

export async function gatherHostFacts(spec: TopologySpec): Promise<HostFacts> {
  const runId = spec.options.runId ?? newRunId();
  const local = spec.services.filter((s) => HOST_PORT_TARGETS.has(s.target) && s.port !== undefined);
  const fixed = new Set(local.map((s) => s.port!).filter((p) => p !== 0));
  const checks = await Promise.all(local.filter((s) => s.port !== 0).map(async (s) => [s, await isPortFree(s.port!)] as const));
  for (const [service, free] of checks) {
    if (free) continue;
    throw new StartError(
      `Port ${service.port} of service "${service.name}" is already in use on this host: stop what holds it, or give "${service.name}" \`port: 0\` to pick a free one`,
      { code: "E_PORT_IN_USE", service: service.name },
    );
  }
  const ports: Record<string, number> = {};
  const taken = new Set(fixed);
  for (const service of local.filter((s) => s.port === 0)) {
    const port = await freePort(taken);
    taken.add(port);
    ports[service.name] = port;
  }
  return {
    runId,
    runDir: spec.options.stateDir ?? path.join(os.tmpdir(), `harness-${runId}`),
    ports,
    hostEnv: process.env,
    addresses: {},
  };
}

/** Six lowercase letters and digits: short enough for interface names (`mb-<id>-…`, 15 characters). */
export function newRunId(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from(randomBytes(6), (b) => alphabet[b % alphabet.length]).join("");
}
