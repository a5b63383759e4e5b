import type { ServiceAddresses } from "../plan/plan.js";
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
