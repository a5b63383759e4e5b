import { ConfigError } from "../errors.js";
import { validateHealth } from "./health.js";
import type { RestartPolicy, ServiceSpec, TargetKind, TargetOptions } from "./types.js";
import { At, boolean, duration, envRecord, expected, integer, object, port, stringArray } from "./validate.js";

export const COMMON_KEYS = ["port", "env", "dependsOn", "health", "startTimeoutMs", "stopTimeoutMs", "restart", "faultable", "watch", "restartWith"] as const;

// A leading letter: the name becomes a shell variable (`API_ADDR`), and `export 1API_ADDR=…` aborts `sh`.
const SERVICE_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,62}$/;

export function validateServiceName(name: unknown, at: At = new At(undefined, "name")): string {
  if (typeof name !== "string" || !SERVICE_NAME.test(name)) {
    expected(at, "a service name: letters, digits, `-`, `_`, `.`, starting with a letter, at most 63 characters", name);
  }
  return name;
}

/**
 * Validates the options every target shares and hands the rest to the target's own validator,
 * which returns the target-specific options and the service's arguments.
 */
export function validateService<T extends TargetKind>(
  name: string,
  target: T,
  raw: unknown,
  targetKeys: readonly string[],
  validateTarget: (options: Record<string, unknown>, at: At) => { args: string[]; options: TargetOptions[T]; env?: Record<string, string> },
  at: At = new At(name, ""),
): ServiceSpec<T> {
  validateServiceName(name);
  const options = object(raw, at, [...COMMON_KEYS, ...targetKeys]);
  const dependsOn = stringArray(options.dependsOn, at.child("dependsOn"), false);
  for (const [i, dep] of dependsOn.entries()) {
    if (dep === name) expected(at.child("dependsOn").child(i), "another service (a service cannot depend on itself)", dep);
  }
  const { args, options: targetOptions, env: targetEnv } = validateTarget(options, at);
  const restart = validateRestart(options.restart, at.child("restart"));
  const watch = stringArray(options.watch, at.child("watch"), false);
  const restartWith = stringArray(options.restartWith, at.child("restartWith"), false);
  for (const [i, dep] of restartWith.entries()) {
    if (dep === name) expected(at.child("restartWith").child(i), "another service (a service restarts with the ones it names)", dep);
  }
  // The one place a ServiceSpec is made: `target` and `options` belong together (the schema of T gave
  // these options), which TypeScript cannot follow through a generic T.
  return Object.freeze({
    name,
    target,
    port: port(options.port, at.child("port")),
    env: Object.freeze({ ...envRecord(options.env, at.child("env")), ...targetEnv }),
    dependsOn: Object.freeze([...new Set(dependsOn)]),
    health: deepFreeze(validateHealth(options.health, at.child("health"))),
    startTimeoutMs: duration(options.startTimeoutMs, at.child("startTimeoutMs"), 60_000),
    stopTimeoutMs: duration(options.stopTimeoutMs, at.child("stopTimeoutMs"), 10_000),
    ...(restart && { restart }),
    args: Object.freeze(args),
    ...(boolean(options.faultable, at.child("faultable"), false) && { faultable: true }),
    ...(watch.length > 0 && { watch: Object.freeze(watch) }),
    ...(restartWith.length > 0 && { restartWith: Object.freeze([...new Set(restartWith)]) }),
    options: Object.freeze(targetOptions),
  }) as ServiceSpec<T>;
}

/** `restart: { policy, maxRetries, backoffMs }`; `policy: "no"` is the same as none. */
function validateRestart(value: unknown, at: At): Readonly<Required<RestartPolicy>> | undefined {
  if (value === undefined) return undefined;
  const options = object(value, at, ["policy", "maxRetries", "backoffMs"]);
  if (options.policy !== "no" && options.policy !== "on-failure") expected(at.child("policy"), '"no" or "on-failure"', options.policy);
  const maxRetries = options.maxRetries === undefined ? 3 : integer(options.maxRetries, at.child("maxRetries"), 0, 1000);
  const backoffMs = options.backoffMs === undefined ? 200 : integer(options.backoffMs, at.child("backoffMs"), 0, 600_000);
  if (options.policy === "no") return undefined;
  return Object.freeze({ policy: options.policy, maxRetries, backoffMs });
}

/** Freezes the health check and its `status` list; a RegExp stays usable (its `lastIndex` is state). */
function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== "object" || value instanceof RegExp) return value;
  for (const inner of Object.values(value)) deepFreeze(inner);
  return Object.freeze(value);
}

/** `api-server` → `API_SERVER`: the prefix of the service's injected variables. */
export function envPrefix(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

/** Refuses a name that is taken, or whose variables (`X_ADDR`) would collide with another's. */
export function checkNewName(existing: readonly ServiceSpec[], name: string): void {
  for (const other of existing) {
    if (other.name === name) {
      throw new ConfigError(`Service "${name}" is defined twice: give each service its own name`, {
        code: "E_DUPLICATE_SERVICE",
        service: name,
      });
    }
    if (envPrefix(other.name) === envPrefix(name)) {
      throw new ConfigError(`Services "${other.name}" and "${name}" would both be injected as ${envPrefix(name)}_ADDR: rename one of them`, { code: "E_DUPLICATE_SERVICE", service: name });
    }
  }
}
