import path from "node:path";
import type { HarnessEvent } from "../topology/types.js";
import { probeFor } from "../health/probes.js";
import { waitHealthy } from "../health/wait-healthy.js";
import { ServiceLog } from "../logs/service-log.js";
import { renderEnvFile } from "../plan/env-file.js";
import type { Plan, PlannedService } from "../plan/plan.js";
import { HarnessError } from "../errors.js";
import type { ExitInfo, MeshAccess, RunningService, Runtime } from "../runtimes/runtime.js";
import type { RunState } from "../state/run-state.js";

export type ServiceState = "pending" | "starting" | "healthy" | "paused" | "exited" | "stopping" | "stopped" | "failed";

/** How many lines of its log an `exited` event and `status()` carry. */
const EXIT_LOG_LINES = 20;

/** Why a start in progress is abandoned by a stop: made once (an `abort()` without a reason makes a DOMException, and its stack, each time). */
const STOPPING = new DOMException("The service is being stopped", "AbortError");

/** Drives one service through start, health, stop and restart on its runtime. */
export class ServiceController {
  readonly log: ServiceLog;
  #state: ServiceState = "pending";
  #running: RunningService | undefined;
  #launching: Promise<RunningService> | undefined;
  #abort = new AbortController();
  #exit: ExitInfo | undefined;
  /** The signal `kill()` sent: an exit it caused is not a failure to restart from. */
  #killedBy: string | undefined;
  #restarts = 0;

  constructor(
    readonly service: PlannedService,
    readonly plan: Plan,
    private readonly runtime: Runtime,
    private readonly runState: RunState,
    private readonly emit: (event: HarnessEvent) => void,
    /** The run's mesh, once made (none when the plan needs none): what the runtime gets as `context.mesh`. */
    private readonly mesh: () => MeshAccess | undefined,
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

  /** How many times the restart policy has started it again. */
  get restarts(): number {
    return this.#restarts;
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
      this.#launching = this.runtime.start(this.service, { plan: this.plan, log: this.log, state: this.runState, signal: own, mesh: this.mesh() });
      const running = await this.#launching;
      this.#running = running;
      void running.exited.then((info) => this.#onExit(running, info));
      await waitHealthy({
        service: this.service.name,
        probe: probeFor(this.service, running, this.log, from),
        exited: running.exited,
        log: this.log,
        timeoutMs: this.service.spec.startTimeoutMs,
        signal: own,
        // A container on a node: the node is named (a local container's engine is plain).
        ...(this.service.placement.nodePort !== undefined && running.info().node !== undefined && { where: `node ${running.info().node}` }),
      });
      this.#state = "healthy";
      this.#killedBy = undefined;
      this.emit({ service: this.service.name, state: "healthy", addr: this.service.addr });
    } catch (error) {
      if (this.#state === "starting") this.#state = "failed";
      this.emit({ service: this.service.name, state: "failed", error: error as Error });
      throw error;
    }
  }

  /** A service that ended on its own (or by `kill()`): reported, and restarted if its policy says so. */
  #onExit(running: RunningService, info: ExitInfo): void {
    if (this.#running !== running) return;
    this.#exit = this.#killedBy !== undefined && info.code === null && info.signal === null ? { code: null, signal: this.#killedBy } : info;
    if (this.#state === "stopping" || this.#state === "stopped") return;
    const wasUp = this.#state === "healthy" || this.#state === "paused";
    this.#state = "exited";
    // It ended on its own: a follow would otherwise wait for lines that cannot come.
    this.log.endFollowers();
    // During a start the start itself fails (E_EARLY_EXIT) and says so.
    if (!wasUp) return;
    this.emit({
      service: this.service.name,
      state: "exited",
      exitCode: this.#exit.code,
      exitSignal: this.#exit.signal,
      logTail: this.log.tail(EXIT_LOG_LINES).map((l) => l.line),
    });
    const failed = this.#killedBy === undefined && (this.#exit.code !== 0 || this.#exit.signal !== null);
    if (failed) void this.#restartAfterFailure();
  }

  /** `restart: { policy: "on-failure" }`: same port, same env, after a backoff that doubles. */
  async #restartAfterFailure(): Promise<void> {
    const policy = this.service.spec.restart;
    if (policy?.policy !== "on-failure") return;
    const abort = this.#abort;
    while (this.#restarts < policy.maxRetries) {
      const delay = policy.backoffMs * 2 ** this.#restarts;
      await new Promise((resolve) => setTimeout(resolve, delay).unref());
      // Stopped, or started by hand, meanwhile.
      if (abort.signal.aborted || this.#state !== "exited") return;
      this.#restarts++;
      // What the exited instance left (a grandchild in its group, an exited container, its node dir) goes first.
      await this.#running?.stop(this.service.spec.stopTimeoutMs).catch(() => {});
      if (abort.signal.aborted || this.#state !== "exited") return;
      this.log.push("stderr", `[meshbed] restarting "${this.service.name}" after it exited (${describeExit(this.#exit)}), attempt ${this.#restarts} of ${policy.maxRetries}`);
      try {
        await this.start(new AbortController().signal);
        return;
      } catch {
        if ((this.#state as ServiceState) !== "failed") return;
        this.#state = "exited";
      }
    }
  }

  /**
   * Faults: sends `signal` (default SIGKILL) to the whole service; resolves with its exit once it
   * has exited, or `undefined` if it still runs after `stopTimeoutMs` (a signal it handles).
   */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<ExitInfo | undefined> {
    const running = this.#requireRunning("kill");
    if (!running.kill) throw unsupported(this.service, "kill");
    // A paused container cannot be signalled, and a stopped group holds any signal but SIGKILL.
    if (this.#state === "paused") await this.resume();
    this.#killedBy = signal;
    await running.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([running.exited.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.service.spec.stopTimeoutMs).unref()))]);
    clearTimeout(timer);
    if (!ended) {
      // It handled the signal: a later exit of its own is a failure again.
      this.#killedBy = undefined;
      return undefined;
    }
    // `exited` settles before #onExit runs its then(): let it record the exit first.
    await Promise.resolve();
    return this.#exit ?? { code: null, signal };
  }

  /** Faults: freezes the service (SIGSTOP to its group, `docker pause`) until `resume()`. */
  async pause(): Promise<void> {
    const running = this.#requireRunning("pause");
    if (!running.pause) throw unsupported(this.service, "pause");
    await running.pause();
    if (this.#state === "healthy") this.#state = "paused";
  }

  async resume(): Promise<void> {
    const running = this.#requireRunning("resume");
    if (!running.resume) throw unsupported(this.service, "resume");
    await running.resume();
    if (this.#state === "paused") this.#state = "healthy";
  }

  #requireRunning(what: string): RunningService {
    if (!this.#running || (this.#state !== "healthy" && this.#state !== "paused")) {
      throw new HarnessError(`Cannot ${what} service "${this.service.name}": it is ${this.#state}, not running`, { code: "E_NOT_RUNNING", service: this.service.name });
    }
    return this.#running;
  }

  /** Stops whatever of the service runs; a start in progress is abandoned first. */
  async stop(): Promise<void> {
    if (this.#state === "pending" || this.#state === "stopped") return;
    this.#abort.abort(STOPPING);
    const running = this.#running ?? (await this.#launching?.catch(() => undefined));
    // Signalled first (the runtime's stop sends its signal before it first waits), then told: the
    // event's work is done while the service ends. Its exit is seen a turn later, as "stopping".
    const stopped = running?.stop(this.service.spec.stopTimeoutMs);
    this.#state = "stopping";
    this.emit({ service: this.service.name, state: "stopping" });
    try {
      await stopped;
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

function unsupported(service: PlannedService, what: string): HarnessError {
  return new HarnessError(`The ${service.target} runtime of service "${service.name}" cannot ${what} it`, { code: "E_NOT_RUNNING", service: service.name });
}

function describeExit(exit: ExitInfo | undefined): string {
  if (!exit) return "unknown status";
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}
