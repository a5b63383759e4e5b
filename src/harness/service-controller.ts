import path from "node:path";
import type { HarnessEvent } from "../spec/types.js";
import { probeFor } from "../health/probes.js";
import { waitHealthy } from "../health/wait-healthy.js";
import { ServiceLog } from "../logs/service-log.js";
import { renderEnvFile } from "../plan/env-file.js";
import type { Plan, PlannedService } from "../plan/plan.js";
import type { ExitInfo, RunningService, Runtime } from "../runtimes/runtime.js";
import type { RunState } from "../state/run-state.js";

export type ServiceState = "pending" | "starting" | "healthy" | "exited" | "stopping" | "stopped" | "failed";

/** Drives one service through start, health, stop and restart on its runtime. */
export class ServiceController {
  readonly log: ServiceLog;
  #state: ServiceState = "pending";
  #running: RunningService | undefined;
  #launching: Promise<RunningService> | undefined;
  #abort = new AbortController();
  #exit: ExitInfo | undefined;

  constructor(
    readonly service: PlannedService,
    readonly plan: Plan,
    private readonly runtime: Runtime,
    private readonly runState: RunState,
    private readonly emit: (event: HarnessEvent) => void,
  ) {
    const dir = runState.serviceDir(service.name);
    this.log = new ServiceLog(service.name, path.join(dir, "service.log"));
    // The env file is written before anything starts, so a user can `source` it in a debugger.
    runState.writePrivate(path.join(dir, "service.env"), renderEnvFile(service.env));
  }

  get state(): ServiceState {
    return this.#state;
  }

  get running(): RunningService | undefined {
    return this.#running;
  }

  get exit(): ExitInfo | undefined {
    return this.#exit;
  }

  /** Starts the service and resolves once it is healthy; `signal` abandons the start. */
  async start(signal: AbortSignal): Promise<void> {
    this.#abort = new AbortController();
    const own = AbortSignal.any([signal, this.#abort.signal]);
    this.#state = "starting";
    this.#exit = undefined;
    this.emit({ service: this.service.name, state: "starting", addr: this.service.addr });
    const from = this.log.position;
    try {
      this.#launching = this.runtime.start(this.service, { plan: this.plan, log: this.log, state: this.runState, signal: own });
      const running = await this.#launching;
      this.#running = running;
      void running.exited.then((info) => {
        if (this.#running !== running) return;
        this.#exit = info;
        if (this.#state !== "stopping" && this.#state !== "stopped") {
          this.#state = "exited";
          // It ended on its own: a follow would otherwise wait for lines that cannot come.
          this.log.endFollowers();
        }
      });
      await waitHealthy({
        service: this.service.name,
        probe: probeFor(this.service, running, this.log, from),
        exited: running.exited,
        log: this.log,
        timeoutMs: this.service.spec.startTimeoutMs,
        signal: own,
      });
      this.#state = "healthy";
      this.emit({ service: this.service.name, state: "healthy", addr: this.service.addr });
    } catch (error) {
      if (this.#state === "starting") this.#state = "failed";
      this.emit({ service: this.service.name, state: "failed", error: error as Error });
      throw error;
    }
  }

  /** Stops whatever of the service runs; a start in progress is abandoned first. */
  async stop(): Promise<void> {
    if (this.#state === "pending" || this.#state === "stopped") return;
    this.#abort.abort();
    const running = this.#running ?? (await this.#launching?.catch(() => undefined));
    this.#state = "stopping";
    this.emit({ service: this.service.name, state: "stopping" });
    try {
      await running?.stop(this.service.spec.stopTimeoutMs);
    } finally {
      this.#running = undefined;
      this.#launching = undefined;
      this.#state = "stopped";
      this.emit({ service: this.service.name, state: "stopped" });
    }
  }

  /** Stop, then start again with the same plan: same port, same addresses, same env. */
  async restart(signal: AbortSignal): Promise<void> {
    await this.stop();
    await this.start(signal);
  }
}
