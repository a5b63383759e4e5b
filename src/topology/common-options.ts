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
  /**
   * Every other service reaches this one through a proxy of the harness, so that `harness.faults`
   * can slow, cut or reset that edge (one edge at a time: `faults: { edges }` in the builder options).
   * Default: false. The harness's own address of the service (`addr`) is never proxied.
   */
  faultable?: boolean;
  /**
   * `meshbed up --watch`: files whose change restarts this service (same port, address and env), as
   * globs relative to its `cwd` (`*` within a name, `**` across folders: `["src/**", "config/*.toml"]`).
   * A process's binary and a package's folder are watched without being named. Default: none.
   */
  watch?: readonly string[];
  /**
   * `meshbed up --watch`: services whose restart restarts this one too (after them), such as a
   * client that keeps no reconnect logic. Default: none.
   */
  restartWith?: readonly (Names | (string & {}))[];
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
