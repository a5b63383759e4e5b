import type { DockerTarget } from "../runtimes/docker/docker-options.js";
import type { ProcessTarget } from "../runtimes/process/process-options.js";
import type { RemoteTarget } from "../runtimes/ssh/ssh-options.js";
import type { WireguardTarget } from "../mesh/wireguard-options.js";
import type { HealthCheck, RestartPolicy } from "./common-options.js";
import type { FaultInfo } from "./fault-types.js";

// Written beside the target options that build on them (so that those need not import this file, which
// imports them); re-exported here, where they have always been imported from.
export type { CommonServiceOptions, HealthCheck, RestartPolicy } from "./common-options.js";
export type { ProcessOptions } from "../runtimes/process/process-options.js";

/** Where and how a service runs. */
export type TargetKind = "process" | "docker" | "remote_lan" | "wireguard";

/** What every validated service has, whatever its target. */
interface ServiceSpecBase {
  readonly name: string;
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
  /** Every other service's edge to this one goes through a fault proxy (`faultable: true`). */
  readonly faultable?: true;
  /** `meshbed up --watch`: globs (relative to the service's cwd) whose change restarts it. */
  readonly watch?: readonly string[];
  /** `meshbed up --watch`: services whose restart restarts this one too. */
  readonly restartWith?: readonly string[];
}

/** The target-specific options of each target, as its own `*-options.ts` validates them. */
export interface TargetOptions {
  process: ProcessTarget;
  docker: DockerTarget;
  remote_lan: RemoteTarget;
  wireguard: WireguardTarget;
}

/** A validated service of each target: `target` tells which `options` it has. */
type ServiceSpecs = {
  [K in TargetKind]: ServiceSpecBase & {
    readonly target: K;
    /** Target-specific options, validated by the target's own `*-options.ts`. */
    readonly options: Readonly<TargetOptions[K]>;
  };
};

/**
 * Validated, normalized description of one service: of any target, a union tagged by `target`
 * (narrow it to read `options`), or of the targets `T`. Frozen; what the plan reads.
 */
export type ServiceSpec<T extends TargetKind = TargetKind> = ServiceSpecs[T];

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
  /**
   * Run the run's DNS server (README "Names (DNS)"): every service finds the others by name, answered
   * for where it runs as its `*_HOST`/`*_PORT` say. Default: false.
   */
  dns?: boolean;
  /**
   * The port of the run's DNS server. Resolvers (`/etc/resolv.conf`, Docker's `Dns`) reach port 53
   * only: on another port services get `HARNESS_DNS` alone. Default: 53 as root, else 5353.
   */
  dnsPort?: number;
  /**
   * Serve the run's status over HTTP on this port of 127.0.0.1 (`/health`, `/services`, `/events`
   * and a status page at `/`); `0` picks a free port. The address is `harness.statusUrl`. Default: no status server.
   */
  statusPort?: number;
}

/** Edges that can take faults (`harness.faults`): declared before start, so that the plan routes them through a proxy. */
export interface FaultOptions {
  /** `[caller, target]` pairs: the caller is given the address of a proxy of the harness that forwards to the target. */
  edges?: readonly (readonly [string, string])[];
}

export interface HarnessOptions {
  /** Identifies the run in names, labels and the state dir. Default: 6 random characters. */
  runId?: string;
  /** Where the run keeps env files, logs and its state. Default: `/tmp/harness-<runId>`. */
  stateDir?: string;
  network?: NetworkOptions;
  faults?: FaultOptions;
  /**
   * Attach to a live run of the same topology instead of starting one (a hash of the spec, the
   * binaries' and packages' mtimes and sizes, the images): the first `start()` starts it in a
   * detached owner process that outlives the caller; `stop()` of an attached harness detaches and
   * leaves it running; `meshbed down` ends it. A changed topology starts a new run and ends the stale
   * one. Default: false.
   */
  reuse?: boolean;
}

/** A whole validated topology. */
export interface TopologySpec {
  readonly options: Readonly<HarnessOptions>;
  readonly services: readonly ServiceSpec[];
}

/** What a service does while the harness starts or stops it; given to `onEvent`. */
export interface HarnessEvent {
  service: string;
  /**
   * The service's state; or, for `fault` and `healed`, a fault added to or removed from an edge
   * whose caller is `service` (the fault is in `fault`).
   */
  state: "waiting" | "starting" | "healthy" | "failed" | "exited" | "stopping" | "stopped" | "fault" | "healed";
  /** The service's address from the harness host, once known. */
  addr?: string | undefined;
  error?: Error | undefined;
  /** With `exited`: its exit code (null when a signal ended it). */
  exitCode?: number | null | undefined;
  /** With `exited`: the signal that ended it, if one did. */
  exitSignal?: string | null | undefined;
  /** With `exited`: the last lines of its log. */
  logTail?: readonly string[] | undefined;
  /** With `fault` and `healed`: which fault, on which edge. */
  fault?: FaultInfo | undefined;
}

export interface StartOptions {
  /** Aborts the start; everything already started is stopped. */
  signal?: AbortSignal;
  /** Deadline for the whole topology to become healthy. Default: none (each service has its own). */
  timeoutMs?: number;
  /** Called as each service changes state. */
  onEvent?: (event: HarnessEvent) => void;
}
