import { validateHarnessOptions } from "./harness-options.js";
import { checkNewName, validateService, validateServiceName } from "./service-options.js";
import { TARGET_SCHEMAS } from "./targets.js";
import type { HarnessOptions, ServiceSpec, TargetKind, TopologySpec } from "./types.js";
import { At } from "./validate.js";
import { ConfigError } from "../errors.js";

// The topology as data: what the builder (src/harness/builder.ts) and the YAML reader both grow,
// one validated service at a time. Every function returns a new frozen topology.

/** A topology of no services, with validated harness options. */
export function emptyTopology(options: HarnessOptions = {}): TopologySpec {
  return Object.freeze({ options: validateHarnessOptions(options), services: Object.freeze([]) });
}

/** `spec` with one more service of any registered target, validated where it is defined. */
export function addService(spec: TopologySpec, name: string, target: TargetKind, options: unknown, at?: At): TopologySpec {
  validateServiceName(name, at?.child("name") ?? new At(undefined, "name"));
  const schema = TARGET_SCHEMAS[target];
  if (!schema)
    throw new ConfigError(`Service "${name}" has target "${target}", which this version of meshbed does not know: use process, docker, remote_lan or wireguard`, {
      code: "E_CONFIG",
      service: name,
    });
  checkNewName(spec.services, name);
  const service: ServiceSpec = validateService(name, target, options, schema.keys, schema.validate, at);
  return Object.freeze({ ...spec, services: Object.freeze([...spec.services, service]) });
}

/** `spec` with other harness options, merged over its own. */
export function withHarnessOptions(spec: TopologySpec, options: HarnessOptions): TopologySpec {
  const merged = { ...spec.options, ...options, network: { ...spec.options.network, ...options.network } };
  return Object.freeze({ ...spec, options: validateHarnessOptions(merged) });
}
