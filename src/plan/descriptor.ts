import type { Plan, ServiceAddresses } from "../plan/plan.js";
import type { TargetKind } from "../topology/types.js";

/** One service in the registry: its target and every address it has. Plain JSON. */
export interface RegistryEntry {
  target: TargetKind;
  port: number | null;
  /** "ip:port" reachable from the harness host. */
  addr: string | null;
  addresses: ServiceAddresses;
  dependsOn: string[];
}

export type Registry = Record<string, RegistryEntry>;

export interface ServiceDescriptor {
  name: string;
  target: TargetKind;
  addr: string | null;
  host: string | null;
  port: number | null;
  addresses: ServiceAddresses;
  envFile: string;
}

/** A started harness as plain, structured-cloneable data: what test files receive. */
export interface HarnessDescriptor {
  runId: string;
  services: Record<string, ServiceDescriptor>;
  env: Record<string, Record<string, string>>;
  registry: Registry;
}

/** The registry of a plan: every service with its target and every address it has. */
export function registryOf(plan: Plan): Registry {
  const registry: Registry = {};
  for (const service of Object.values(plan.services)) {
    registry[service.name] = {
      target: service.target,
      port: service.port ?? null,
      addr: service.addr ?? null,
      addresses: { ...service.addresses },
      dependsOn: [...service.spec.dependsOn],
    };
  }
  return registry;
}
