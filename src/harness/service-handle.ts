import type { LogLine, LogsOptions } from "../logs/service-log.js";
import { addrFor } from "../plan/plan.js";
import type { ServiceAddresses } from "../plan/plan.js";
import type { RuntimeInfo } from "../runtimes/runtime.js";
import type { TargetKind } from "../spec/types.js";
import type { ServiceController, ServiceState } from "./service-controller.js";

export interface ServiceStatus extends RuntimeInfo {
  state: ServiceState;
  /** Set once the service has exited on its own. */
  exitCode?: number | null;
  exitSignal?: string | null;
}

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
  readonly #controller: ServiceController;
  readonly #signal: AbortSignal;

  /** @internal */
  constructor(controller: ServiceController, signal: AbortSignal) {
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

  /** Stops and starts it again with the same port, addresses and env; resolves once healthy. */
  restart(): Promise<void> {
    return this.#controller.restart(this.#signal);
  }
}
