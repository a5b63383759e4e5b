/** Where and how a service runs. */
export type TargetKind = "process" | "docker" | "remote_lan" | "wireguard";

/**
 * How the harness decides that a service is ready. Default: `{ tcp: true }` when the service
 * has a port, otherwise ready as soon as it runs.
 */
export type HealthCheck =
  /** A TCP connection to the service's address succeeds. */
  | { tcp: true }
  /** An HTTP GET of `path` answers with `status` (default: any 2xx). */
  | { http: string; status?: number | readonly number[] }
  /** The command (argv, no shell) exits 0; it runs where the service runs, with its env. */
  | { command: readonly string[] }
  /** A line of the service's stdout or stderr matches. */
  | { logLine: RegExp | string };

/** Options every target takes. `Names` are the services known to the builder so far. */
export interface CommonServiceOptions<Names extends string = string> {
  /** The primary port the service listens on. `0` picks a free one (given as `PORT`). No default: a service without a port gets no `*_ADDR` peers can use. */
  port?: number;
  /** Environment variables; values may use `${VAR}` from the injected env (`$$` is a literal `$`). */
  env?: Readonly<Record<string, string>>;
  /** Services that must be healthy before this one starts. Not needed for addresses to be injected. */
  dependsOn?: readonly (Names | (string & {}))[];
  /** Readiness check. Default: `{ tcp: true }` when there is a port. */
  health?: HealthCheck;
  /** How long the service may take to become healthy. Default: 60 000 ms. */
  startTimeoutMs?: number;
  /** Grace period between SIGTERM (or `docker stop`) and SIGKILL. Default: 10 000 ms. */
  stopTimeoutMs?: number;
  /** What to do when the service exits on its own after it was healthy. Default: nothing (it is reported as exited). */
  restart?: RestartPolicy;
}

/**
 * `on-failure`: a service that exits with a non-zero code (or dies by a signal it was not sent
 * through `kill()`) after it was healthy is started again with the same port and env, after
 * `backoffMs` (doubled on each further attempt), at most `maxRetries` times.
 */
export interface RestartPolicy {
  policy: "no" | "on-failure";
  /** Default: 3. */
  maxRetries?: number;
  /** Wait before the first restart, doubled for each next one. Default: 200 ms. */
  backoffMs?: number;
}

/** A local process. */
export interface ProcessOptions<Names extends string = string> extends CommonServiceOptions<Names> {
  /** Executable: a path (relative to `cwd`) or a name looked up on `PATH`. */
  binary: string;
  /** Arguments; may use `${VAR}` like env values. Default: none. */
  args?: readonly string[];
  /** Working directory. Default: the harness process's cwd. */
  cwd?: string;
  /** Whether the process inherits the harness process's environment under the injected one. Default: true. */
  inheritEnv?: boolean;
}

/** Validated, normalized description of one service. Frozen; what the plan reads. */
export interface ServiceSpec {
  readonly name: string;
  readonly target: TargetKind;
  readonly port: number | undefined;
  readonly env: Readonly<Record<string, string>>;
  readonly dependsOn: readonly string[];
  readonly health: HealthCheck | undefined;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  /** Set when the service is restarted after it fails (validated, defaults filled in). */
  readonly restart?: Readonly<Required<RestartPolicy>>;
  /** Arguments of the service's command, before interpolation. */
  readonly args: readonly string[];
  /** Target-specific options, validated by the target's own `*-options.ts`. */
  readonly options: Readonly<Record<string, unknown>>;
}

export interface NetworkOptions {
  /** Subnet of the WireGuard mesh, created only when a `wireguard` service exists. Default: "10.42.0.0/16". */
  wireguardSubnet?: string;
  /** Interface facing LAN nodes. Default: the one on the route to each node. */
  lanInterface?: string;
  /** Endpoint ("host:port") WireGuard nodes use to reach the hub. Default: the local address of the SSH connection. */
  hubEndpoint?: string;
  /**
   * Name of the hub's WireGuard interface on the harness host (and of each node's). At most 15
   * characters. Default: "wg-<runId>" (cut to 15), so that concurrent runs and lab namespaces never share one.
   */
  wireguardInterface?: string;
  /** DNS port (reserved; meshbed injects addresses, it runs no DNS). Default: 53. */
  dnsPort?: number;
}

export interface HarnessOptions {
  /** Identifies the run in names, labels and the state dir. Default: 6 random characters. */
  runId?: string;
  /** Where the run keeps env files, logs and its state. Default: `/tmp/harness-<runId>`. */
  stateDir?: string;
  network?: NetworkOptions;
}

/** A whole validated topology. */
export interface TopologySpec {
  readonly options: Readonly<HarnessOptions>;
  readonly services: readonly ServiceSpec[];
}

/** What a service does while the harness starts or stops it; given to `onEvent`. */
export interface HarnessEvent {
  service: string;
  state: "waiting" | "starting" | "healthy" | "failed" | "exited" | "stopping" | "stopped";
  /** The service's address from the harness host, once known. */
  addr?: string | undefined;
  error?: Error | undefined;
  /** With `exited`: its exit code (null when a signal ended it). */
  exitCode?: number | null | undefined;
  /** With `exited`: the signal that ended it, if one did. */
  exitSignal?: string | null | undefined;
  /** With `exited`: the last lines of its log. */
  logTail?: readonly string[] | undefined;
}

export interface StartOptions {
  /** Aborts the start; everything already started is stopped. */
  signal?: AbortSignal;
  /** Deadline for the whole topology to become healthy. Default: none (each service has its own). */
  timeoutMs?: number;
  /** Called as each service changes state. */
  onEvent?: (event: HarnessEvent) => void;
}
