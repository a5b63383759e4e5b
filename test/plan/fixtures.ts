import type { HostFacts } from "../../src/plan/plan.js";
import type { ServiceSpec, TargetKind, TopologySpec } from "../../src/topology/types.js";

/** Fixed facts about the host: the plan is pure given these. */
export function hostFacts(overrides: Partial<HostFacts> = {}): HostFacts {
  return {
    runId: "t1",
    runDir: "/tmp/harness-t1",
    ports: {},
    hostPorts: {},
    ips: {},
    hostEnv: { HOME: "/home/tester", PATH: "/usr/bin:/bin" },
    addresses: {},
    ...overrides,
  };
}

/**
 * A validated service of any target, written directly: the builder may not have a method for every
 * target yet, and the plan only reads this shape. Its target options are only those a test gives
 * (the plan reads `remoteRoot` at most), hence the cast.
 */
export function serviceSpec(name: string, target: TargetKind, overrides: Partial<Omit<ServiceSpec, "target" | "options">> & { options?: Readonly<Record<string, unknown>> } = {}): ServiceSpec {
  return Object.freeze({
    name,
    target,
    port: undefined,
    env: {},
    dependsOn: [],
    health: undefined,
    startTimeoutMs: 60_000,
    stopTimeoutMs: 10_000,
    args: [],
    options: {},
    ...overrides,
  }) as ServiceSpec;
}

export function topology(...services: ServiceSpec[]): TopologySpec {
  return Object.freeze({ options: {}, services: Object.freeze(services) });
}
