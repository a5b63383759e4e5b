/**
 * Every error meshbed throws is a `HarnessError` with a stable `code`, the `service` it is about
 * (when there is one), the `cause`, and the last lines of that service's log (when there is one).
 * The message says what failed and what to do next.
 */
export type ErrorCode =
  // bad input, found before any side effect
  | "E_CONFIG"
  | "E_YAML"
  | "E_DUPLICATE_SERVICE"
  | "E_UNKNOWN_DEPENDENCY"
  | "E_DEPENDENCY_CYCLE"
  | "E_UNKNOWN_VARIABLE"
  // found while preparing or starting
  | "E_PORT_IN_USE"
  | "E_BINARY_NOT_FOUND"
  | "E_SPAWN_FAILED"
  | "E_EARLY_EXIT"
  | "E_HEALTH_TIMEOUT"
  | "E_START_ABORTED"
  | "E_START_TIMEOUT"
  | "E_DEPENDENCY_FAILED"
  | "E_RUNTIME_UNAVAILABLE"
  // docker
  | "E_DOCKER_UNAVAILABLE"
  | "E_DOCKER_NETWORK"
  | "E_IMAGE_NOT_FOUND"
  | "E_IMAGE_BUILD_FAILED"
  // ssh, packages, the lab
  | "E_SSH_CONNECT"
  | "E_SSH_AUTH"
  | "E_SSH_HOST_KEY"
  | "E_SSH_COMMAND"
  | "E_PACKAGE_INVALID"
  | "E_SYSTEM_REQUIREMENTS"
  | "E_SETUP_FAILED"
  | "E_LAB"
  // the WireGuard mesh
  | "E_MESH_SUBNET"
  | "E_MESH_PRIVILEGE"
  | "E_MESH"
  // the run's DNS server (`network.dns`), and a node's resolver it changes
  | "E_DNS"
  | "E_DNS_PRIVILEGE"
  // faults (kill, pause, partition) asked of a service that is not running, or a firewall change that failed
  | "E_NOT_RUNNING"
  | "E_FIREWALL"
  // a handle of a harness attached to a run another process owns (`reuse: true`) asked to change it
  | "E_ATTACHED"
  // found while stopping, or reaping what a crashed run left
  | "E_STOP_FAILED"
  | "E_CLEANUP_FAILED"
  // a step of meshbed's own called out of order: a bug to report, never the user's input
  | "E_INTERNAL";

export interface HarnessErrorOptions {
  code: ErrorCode;
  service?: string | undefined;
  cause?: unknown;
  /** Last lines of the service's log, oldest first. */
  logTail?: readonly string[] | undefined;
}

export class HarnessError extends Error {
  readonly code: ErrorCode;
  readonly service: string | undefined;
  readonly logTail: readonly string[];

  constructor(message: string, options: HarnessErrorOptions) {
    const tail = options.logTail ?? [];
    super(tail.length > 0 ? `${message}\n${formatLogTail(options.service, tail)}` : message, {
      cause: options.cause,
    });
    this.name = new.target.name;
    this.code = options.code;
    this.service = options.service;
    this.logTail = tail;
  }
}

/** Invalid topology or options: nothing was started. */
export class ConfigError extends HarnessError {}

/** A service could not be started or did not become healthy: everything started was stopped. */
export class StartError extends HarnessError {}

/** One or more services could not be stopped cleanly; `errors` holds each failure. */
export class StopError extends HarnessError {
  readonly errors: readonly HarnessError[];
  constructor(errors: readonly HarnessError[]) {
    const lines = errors.map((e) => `- ${e.message.split("\n")[0]}`);
    super(`${errors.length} service(s) did not stop cleanly:\n${lines.join("\n")}`, {
      code: "E_STOP_FAILED",
      cause: errors[0],
    });
    this.errors = errors;
  }
}

function formatLogTail(service: string | undefined, tail: readonly string[]): string {
  const title = service ? `Last ${tail.length} lines of the log of "${service}":` : "Last log lines:";
  return [title, ...tail.map((l) => `  | ${l}`)].join("\n");
}
