import { HarnessError, StartError, StopError } from "../errors.js";
import type { MeshControl } from "../mesh/mesh-control.js";
import type { MeshSetup } from "../mesh/mesh-setup.js";
import type { Plan } from "../plan/plan.js";
import { preloadReapers, reapers } from "../runtimes/reapers.js";
import type { Runtime } from "../runtimes/runtime.js";
import type { HarnessEvent, TargetKind } from "../topology/types.js";
import type { RunState } from "../state/run-state.js";
import { type Stoppable, track, untrack } from "./exit-hooks.js";
import { EdgeFaults } from "../faults/edge-faults.js";
import { Partitions } from "../faults/partition.js";
import { ServiceController } from "./service-controller.js";
import { RunEvents } from "./run-events.js";
import type { StatusServer } from "./status-server.js";
import type { DnsServer } from "../dns/dns-server.js";

/**
 * One started topology: starts services as soon as their dependencies are healthy (so each
 * dependency level starts in parallel), and stops them in reverse level order, exactly once.
 * The run's mesh, when the plan needs one, goes up and down with the wireguard target's runtime
 * (right after its `prepare`, right after its `dispose`): before the first service starts, after
 * the last one stopped.
 */
export class Run implements Stoppable {
  readonly controllers: ReadonlyMap<string, ServiceController>;
  readonly partitions: Partitions;
  /** The run's status server, when `network.statusPort` asks for one (`serveStatus`). */
  status: StatusServer | undefined;
  /** The fault edges' proxies (`faults.edges`, `faultable`): open from before the first service starts until the last stopped. */
  readonly faults: EdgeFaults;
  #stopping: Promise<void> | undefined;
  /** The run's DNS server (`network.dns`): up from right after the run-wide set-up until the last service stopped. */
  dns: DnsServer | undefined;

  constructor(
    readonly plan: Plan,
    readonly state: RunState,
    private readonly runtimes: ReadonlyMap<TargetKind, Runtime>,
    emit: (event: HarnessEvent) => void,
    private readonly meshSetup?: MeshSetup,
    /** Every event `emit` sends, for subscribers after the start. */
    readonly events: RunEvents = new RunEvents(),
  ) {
    const controllers = new Map<string, ServiceController>();
    for (const service of Object.values(plan.services)) {
      controllers.set(service.name, new ServiceController(service, plan, runtimes.get(service.target)!, state, emit, () => meshSetup?.mesh));
    }
    this.controllers = controllers;
    this.partitions = new Partitions(plan, state, controllers);
    this.faults = new EdgeFaults(plan, { emit, log: (service, line) => controllers.get(service)?.log.push("stderr", line) });
    track(this);
  }

  /** The run's mesh while it is up (from the moment it is being made until it has been removed). */
  get mesh(): MeshControl | undefined {
    return this.meshSetup?.mesh;
  }

  /** Serves the run's status over HTTP on 127.0.0.1 (status-server.ts) until the run has stopped; records its URL. */
  async serveStatus(port: number): Promise<void> {
    const { StatusServer } = await import("./status-server.js");
    this.status = await StatusServer.start(this, { port });
    this.state.noteStatusUrl(this.status.url);
  }

  /** Resolves when every service is healthy; on the first failure abandons the rest and rejects. */
  async startAll(signal: AbortSignal): Promise<void> {
    const failed = new AbortController();
    const abandon = AbortSignal.any([signal, failed.signal]);
    // Before anything is created: the exit hook's last resort (`killNow`) cannot await an import.
    await preloadReapers(this.runtimes.keys());
    // Loaded while the run-wide set-up is made (only with names: a run without them never loads dns-packet).
    const dnsModules = this.plan.dns ? loadDnsModules() : undefined;
    // Docker resources are reaped by the run's label: recorded before `prepare` makes the first (the
    // network), so that a crash before any container is recorded still leaves the reaper a trace.
    if (this.runtimes.has("docker")) this.state.record({ kind: "docker-run", id: this.plan.runId });
    for (const [kind, runtime] of this.runtimes) {
      await runtime.prepare?.(this.plan, this.state);
      if (kind === "wireguard") await this.meshSetup?.up(this.state);
    }
    // After the set-up: the addresses it listens on (the run network's gateway, the hub's mesh address) exist now.
    if (this.plan.dns) await this.#startDns(this.plan.dns, await dnsModules!);
    const ready = new Map<string, Promise<void>>();
    const errors: unknown[] = [];
    for (const name of this.plan.levels.flat()) {
      const deps = this.plan.services[name]!.spec.dependsOn.map((d) => ready.get(d)!);
      const started = (async () => {
        await Promise.all(deps);
        if (abandon.aborted) throw abandoned(signal);
        // Its fault edges' proxies first: the addresses it was given answer from its first moment.
        await this.faults.openFor(name, abandon);
        // Its DNS server's address answers too (the run network's gateway may still be in the making).
        const server = this.plan.dns?.serverOf[name];
        if (server !== undefined) await this.dns?.ready(server);
        await this.controllers.get(name)!.start(abandon);
      })();
      started.catch((error) => {
        errors.push(error);
        failed.abort();
      });
      ready.set(name, started);
    }
    await Promise.allSettled(ready.values());
    if (errors.length > 0) throw rootCause(errors, signal);
  }

  async #startDns(names: NonNullable<Plan["dns"]>, [{ DnsServer }, { hostResolvers }]: DnsModules): Promise<void> {
    const note = (line: string) => {
      for (const controller of this.controllers.values()) controller.log.push("stderr", line);
    };
    this.dns = await DnsServer.start(names, { upstreams: hostResolvers(names.listen), note: (line) => note(`meshbed ${line}`) });
  }

  /** Stops every service, dependents first; runs once; reports every failure. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stopAll();
    return this.#stopping;
  }

  killNow(): void {
    this.partitions.removeHostNow();
    reapers.killNow(this.state.resources);
  }

  async #stopAll(): Promise<void> {
    const errors: HarnessError[] = [];
    this.state.holdWrites();
    this.state.withdrawDescriptor();
    // A stop that takes long says what it waits for (once), so that a hang names its part.
    let waitingFor = "the partitions' removal";
    const stopping = new Set<string>();
    const slow = setTimeout(() => {
      const services = stopping.size > 0 ? ` (${[...stopping].join(", ")})` : "";
      process.stderr.write(`meshbed: run ${this.plan.runId} is still stopping after ${SLOW_STOP_MS / 1000} s: waiting for ${waitingFor}${services}\n`);
    }, SLOW_STOP_MS);
    slow.unref();
    // While the services (and their nodes' SSH connections) are still there.
    await this.partitions.dispose().catch((error: unknown) => errors.push(error as HarnessError));
    waitingFor = "services to stop";
    for (const level of [...this.plan.levels].reverse()) {
      await Promise.all(
        level.map(async (name) => {
          const controller = this.controllers.get(name)!;
          stopping.add(name);
          try {
            await controller.stop();
          } catch (error) {
            errors.push(
              asStopError(
                name,
                error,
                controller.log.tail(20).map((l) => l.line),
              ),
            );
          } finally {
            stopping.delete(name);
          }
        }),
      );
    }
    for (const [kind, runtime] of this.runtimes) {
      waitingFor = `the ${kind} runtime's clean-up`;
      // The wireguard target's runtime, then the mesh: both are tried, the first failure is that target's.
      const failures: unknown[] = [];
      await Promise.resolve(runtime.dispose?.()).catch((e: unknown) => failures.push(e));
      if (kind === "wireguard") await this.meshSetup?.down(this.state).catch((e: unknown) => failures.push(e));
      if (failures.length > 0) {
        const error = failures[0];
        errors.push(new HarnessError(`The ${kind} runtime did not clean up: ${(error as Error).message}`, { code: "E_STOP_FAILED", cause: error }));
      }
    }
    waitingFor = "the fault proxies to close";
    await this.faults.close();
    waitingFor = "the DNS server to close";
    await this.dns?.close();
    waitingFor = "the service logs to close";
    await Promise.all([...this.controllers.values()].map((c) => c.log.close()));
    waitingFor = "the status server to close";
    // Last: its clients saw every service stop.
    await this.status?.close();
    untrack(this);
    clearTimeout(slow);
    if (errors.length > 0) {
      this.state.releaseWrites();
      throw new StopError(errors);
    }
    this.state.remove();
  }
}

type DnsModules = [typeof import("../dns/dns-server.js"), typeof import("../dns/host-resolvers.js")];
let dnsModules: Promise<DnsModules> | undefined;

/** The DNS server's modules, imported once per process: a later run's import still costs a few ms (more under a loader such as tsx). */
function loadDnsModules(): Promise<DnsModules> {
  if (!dnsModules) {
    dnsModules = Promise.all([import("../dns/dns-server.js"), import("../dns/host-resolvers.js")]);
    // A set-up that fails first never awaits it.
    dnsModules.catch(() => {});
  }
  return dnsModules;
}

/** After how long a stop says what it is still waiting for. */
const SLOW_STOP_MS = 30_000;

function abandoned(signal: AbortSignal): StartError {
  const reason = signal.reason as Error | undefined;
  if (reason?.name === "TimeoutError") {
    return new StartError(`The topology did not become healthy within the start's \`timeoutMs\`; raise it or look at the slowest service`, {
      code: "E_START_TIMEOUT",
      cause: reason,
    });
  }
  return new StartError("The start was aborted", { code: "E_START_ABORTED", cause: reason });
}

/** The error that caused the others: not an abandonment that followed it. */
function rootCause(errors: unknown[], signal: AbortSignal): unknown {
  const real = errors.find((e) => !(e instanceof StartError && e.code === "E_START_ABORTED"));
  if (real) return real;
  return signal.aborted ? abandoned(signal) : errors[0];
}

function asStopError(service: string, error: unknown, logTail: string[]): HarnessError {
  if (error instanceof HarnessError) return error;
  return new HarnessError(`Service "${service}" did not stop: ${(error as Error).message}`, {
    code: "E_STOP_FAILED",
    service,
    cause: error,
    logTail,
  });
}
