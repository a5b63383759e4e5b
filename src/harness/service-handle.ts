import os from "node:os";
import type { LogLine, LogsOptions, ServiceLog } from "../logs/service-log.js";
import { addrFor } from "../plan/plan.js";
import type { ServiceAddresses } from "../plan/plan.js";
import type { RuntimeInfo } from "../runtimes/runtime.js";
import type { TargetKind } from "../topology/types.js";
import type { ServiceController, ServiceState } from "./service-controller.js";

export interface ServiceStatus extends RuntimeInfo {
  state: ServiceState;
  /** Set once the service has exited on its own. */
  exitCode?: number | null;
  exitSignal?: string | null;
  /** Once it has exited on its own: the last lines of its log. */
  logTail?: string[];
  /** How many times its restart policy started it again. */
  restarts?: number;
}

/**
 * @internal What a handle drives: the service's controller, or, on a harness attached to a run
 * another process owns (attached-run.ts), a view of that run's records.
 */
export type ServiceControl = Pick<ServiceController, "service" | "plan" | "state" | "exit" | "restarts" | "stop" | "kill" | "pause" | "resume" | "restart"> & {
  readonly running: { info(): RuntimeInfo } | undefined;
  readonly log: Pick<ServiceLog, "tail" | "lines" | "endFollowers">;
};

/** A started service: its addresses, env, logs and lifecycle. */
export class ServiceHandle<Name extends string = string> {
  readonly name: Name;
  readonly target: TargetKind;
  /** "ip:port" reachable from the harness host (undefined for a service without a port). */
  readonly addr: string | undefined;
  /** The ip part of `addr` (for a service without a port, its address from the harness host). */
  readonly host: string | undefined;
  /** The port the service listens on. */
  readonly port: number | undefined;
  /** Every address it has: from the host, on the docker network, the LAN, the mesh. */
  readonly addresses: Readonly<ServiceAddresses>;
  /** The env it was given. */
  readonly env: Readonly<Record<string, string>>;
  /** Where its env file is, on the machine it runs on. */
  readonly envFile: string;
  readonly #controller: ServiceControl;
  readonly #signal: AbortSignal;

  /** @internal */
  constructor(controller: ServiceControl, signal: AbortSignal) {
    const service = controller.service;
    this.#controller = controller;
    this.#signal = signal;
    this.name = service.name as Name;
    this.target = service.target;
    this.addr = service.addr;
    // A service without a port still has a host address (what peers get as X_HOST).
    const fromHost = service.addresses.host;
    this.host = fromHost === undefined || service.addr === undefined ? fromHost : fromHost.slice(0, fromHost.lastIndexOf(":"));
    this.port = service.port;
    this.addresses = service.addresses;
    this.env = service.env;
    this.envFile = service.envFile;
  }

  /** The address of this service as `caller` (another service of the topology) reaches it. */
  addrFor(caller: string): string | undefined {
    if (!(caller in this.#controller.plan.services)) {
      throw new TypeError(`addrFor: "${caller}" is not a service of this topology (${Object.keys(this.#controller.plan.services).join(", ")})`);
    }
    return addrFor(this.#controller.plan, this.name, caller);
  }

  async status(): Promise<ServiceStatus> {
    const c = this.#controller;
    const status: ServiceStatus = { state: c.state, ...c.running?.info() };
    if (c.exit) {
      status.exitCode = c.exit.code;
      status.exitSignal = c.exit.signal;
    }
    if (c.state === "exited") status.logTail = c.log.tail(20).map((l) => l.line);
    if (c.restarts > 0) status.restarts = c.restarts;
    return status;
  }

  /** Its stdout and stderr as lines: what was kept (`tail`), then new lines with `follow`. */
  logs(options: LogsOptions = {}): AsyncIterable<LogLine> {
    // A stopped or exited service prints nothing more: following it would never end.
    const over = this.#controller.state === "stopped" || this.#controller.state === "exited";
    return this.#controller.log.lines(over ? { ...options, follow: false } : options);
  }

  /** Stops this service only (dependents keep running). */
  async stop(): Promise<void> {
    try {
      await this.#controller.stop();
    } finally {
      this.#controller.log.endFollowers();
    }
  }

  /**
   * Faults: sends `signal` (default SIGKILL) to the whole service — its process group, its
   * container, its group on the node — and resolves once it has exited. It is then reported as
   * `exited` (an `onEvent` and `status()`); a restart policy does not restart a killed service.
   * Resolves `undefined` when it still runs after `stopTimeoutMs` (a signal it handles, as SIGHUP).
   */
  kill(signal: NodeJS.Signals = "SIGKILL"): Promise<{ code: number | null; signal: string | null } | undefined> {
    if (typeof signal !== "string" || !(signal in os.constants.signals)) {
      return Promise.reject(new TypeError(`kill: expected a signal name such as "SIGKILL" or "SIGTERM", got ${JSON.stringify(signal)}`));
    }
    return this.#controller.kill(signal);
  }

  /** Faults: freezes the whole service (SIGSTOP to its group, `docker pause`) until `resume()`. */
  pause(): Promise<void> {
    return this.#controller.pause();
  }

  /** Undoes `pause()` (SIGCONT, `docker unpause`). */
  resume(): Promise<void> {
    return this.#controller.resume();
  }

  /** Stops and starts it again with the same port, addresses and env; resolves once healthy. */
  restart(): Promise<void> {
    return this.#controller.restart(this.#signal);
  }
}
