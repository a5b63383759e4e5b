import type { ServiceLog } from "../logs/service-log.js";
import type { HostAddresses } from "../plan/addresses.js";
import type { Plan, PlannedService, ServiceIps } from "../plan/plan.js";
import type { ServiceSpec, TargetKind, TopologySpec } from "../topology/types.js";
import type { RunState } from "../state/run-state.js";

export interface ExitInfo {
  code: number | null;
  signal: string | null;
}

export interface RuntimeContext {
  readonly plan: Plan;
  readonly log: ServiceLog;
  readonly state: RunState;
  /** Aborted when the start is abandoned or the service is being stopped. */
  readonly signal: AbortSignal;
  /** The run's WireGuard mesh, once the harness has made it (only when the plan needs one). */
  readonly mesh?: MeshAccess;
}

/**
 * What a runtime uses of the run's WireGuard mesh: network set-up that the harness makes, not a
 * runtime. The mesh implements it; runtimes reach the mesh only through it.
 */
export interface MeshAccess {
  /**
   * Starts a service through `start`; when it runs on a node of the mesh (a WireGuard node, or a LAN
   * node that joined), that node is (again) a peer of the hub while the service runs, and leaves once
   * none of its services runs. Another service just starts.
   */
  onMesh(service: string, start: () => Promise<RunningService>): Promise<RunningService>;
}

/** What a runtime reports about a running service, for `status()` and `meshbed status`. */
export interface RuntimeInfo {
  pid?: number;
  containerId?: string;
  node?: string;
  /** A container's published ports: container port → port on the harness host. */
  publishedPorts?: Readonly<Record<number, number>>;
}

/** One started instance of a service. */
export interface RunningService {
  /** Settles when the service ends, whoever ended it; never rejects. */
  readonly exited: Promise<ExitInfo>;
  /** Graceful stop, then force after `graceMs`; resolves when nothing of the service is left. */
  stop(graceMs: number): Promise<void>;
  /** Runs a command where the service runs, with its env; resolves its exit code. */
  exec(argv: readonly string[], signal: AbortSignal): Promise<number>;
  /** The runtime's own readiness check (an image's HEALTHCHECK, a package's health.sh), if it has one. */
  nativeHealth?(signal: AbortSignal): Promise<boolean>;
  /** Faults: sends `signal` to the whole service (its process group, its container); `exited` settles if it dies. */
  kill?(signal: NodeJS.Signals): Promise<void>;
  /** Faults: freezes the whole service (SIGSTOP to its group, `docker pause`) until `resume`. */
  pause?(): Promise<void>;
  resume?(): Promise<void>;
  /**
   * Runs a shell command as root on the machine the service runs on, when that is not the harness
   * host (a node over SSH): for network faults (iptables) there.
   */
  runAsRoot?(command: string): Promise<{ code: number | null; stdout: string; stderr: string }>;
  info(): RuntimeInfo;
}

/**
 * A place services run. One per harness and target; created lazily so that a topology of
 * processes never loads dockerode or ssh2.
 */
export interface Runtime {
  readonly kind: TargetKind;
  /**
   * Reads (creates nothing) what the plan must know about this target's services before anything
   * starts: chosen ports, published host ports, container or node addresses, the host's address
   * as these services see it.
   */
  gatherFacts?(services: readonly ServiceSpec[], context: FactsContext): Promise<FactsContribution>;
  /** Checks that read but create nothing (binaries, images, hosts), for every service before any starts. */
  preflight(service: PlannedService): Promise<void>;
  /** Run-wide set-up (a docker network, SSH connections), before the first service of this target starts. */
  prepare?(plan: Plan, state?: RunState): Promise<void>;
  start(service: PlannedService, context: RuntimeContext): Promise<RunningService>;
  /** Undoes `prepare`; called once, after every service of this target has stopped. */
  dispose?(): Promise<void>;
  // What a crashed run left, and the last resort at the `exit` event, are its reaper's (src/runtimes/reapers.ts).
}

export interface FactsContext {
  readonly runId: string;
  readonly spec: TopologySpec;
  /** Ports already chosen or fixed on the harness host: do not pick these. */
  readonly takenPorts: ReadonlySet<number>;
}

/** A runtime's part of the host facts; merged into `HostFacts`. */
export interface FactsContribution {
  ports?: Record<string, number>;
  hostPorts?: Record<string, number>;
  /** The node port of each container on a node's engine (see `HostFacts.nodePorts`). */
  nodePorts?: Record<string, number>;
  ips?: Record<string, ServiceIps>;
  addresses?: Partial<HostAddresses>;
}
