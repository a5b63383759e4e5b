import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { HarnessError } from "../errors.js";
import type { LogLine, LogsOptions } from "../logs/service-log.js";
import type { Plan, PlannedService } from "../plan/plan.js";
import type { RuntimeInfo } from "../runtimes/runtime.js";
import type { StateFile } from "../state/run-state.js";
import { readStateFile } from "../state/state-file.js";
import type { HarnessEvent } from "../topology/types.js";
import type { ServiceControl } from "./service-handle.js";
import type { ServiceState } from "./service-controller.js";

/** What the owner of a reusable run writes beside its state (`reuse.json`): what an attached harness is made of. */
export interface ReuseRecord {
  key: string;
  hash: string;
  plan: Plan;
  /** Each service's runtime info at start (pid, container id…), for `status()`. */
  info: Record<string, RuntimeInfo>;
}

/** Every later change of a service's state, read from the owner's state file (polled while someone listens). */
const EVENTS_POLL_MS = 100;

function attachedError(what: string, runId: string, service?: string): HarnessError {
  return new HarnessError(
    `${service ? `Service "${service}": ` : ""}${what} is not available on a harness attached to run ${runId} (\`reuse: true\`), which another process owns: ` +
      `restart or stop it there, or \`meshbed down ${runId}\` and start again`,
    { code: "E_ATTACHED", service },
  );
}

/**
 * A run another process owns (`reuse: true`), as a `Harness` sees it: addresses, env and the
 * registry from the owner's records, `status()` and `logs()` from its state dir, and nothing that
 * changes it — `stop()` detaches, and a handle's `stop`/`restart`/`kill`/`pause`/`resume`, faults and
 * partitions throw `E_ATTACHED`. No SSH or Docker call is made.
 */
export class AttachedRun {
  readonly controllers: ReadonlyMap<string, ServiceControl>;
  readonly faults = undefined;
  readonly partitions;
  readonly status: { readonly url: string } | undefined;
  readonly events;
  readonly #detached = new AbortController();
  readonly #stateFile: string;

  constructor(
    readonly plan: Plan,
    record: ReuseRecord,
    readonly dir: string,
    state: StateFile,
  ) {
    this.#stateFile = path.join(dir, "state.json");
    const controllers = new Map<string, ServiceControl>();
    for (const service of Object.values(plan.services)) controllers.set(service.name, this.#controller(service, record.info[service.name] ?? {}));
    this.controllers = controllers;
    const refuse = (what: string) => () => Promise.reject(attachedError(what, plan.runId));
    this.partitions = { partition: refuse("partition()"), heal: refuse("heal()") };
    this.status = state.statusUrl ? { url: state.statusUrl } : undefined;
    this.events = { subscribe: (listener: (event: HarnessEvent) => void) => this.#subscribe(listener) };
  }

  get mesh(): never {
    throw attachedError("The mesh", this.plan.runId);
  }

  /** The owner's last noted states; empty once the run is gone. */
  states(): Record<string, string> {
    return readStateFile<StateFile>(this.#stateFile)?.services ?? {};
  }

  /** Detaches: the run goes on in its owner. */
  stop(): Promise<void> {
    this.#detached.abort();
    return Promise.resolve();
  }

  #controller(service: PlannedService, info: RuntimeInfo): ServiceControl {
    const { runId } = this.plan;
    const refuse = (what: string) => () => Promise.reject(attachedError(`${what}`, runId, service.name));
    const file = path.join(this.dir, service.name, "service.log");
    const detached = this.#detached.signal;
    const run = this;
    return {
      service,
      plan: this.plan,
      get state() {
        return (run.states()[service.name] ?? "stopped") as ServiceState;
      },
      exit: undefined,
      restarts: 0,
      running: { info: () => info },
      log: {
        tail: (n = Infinity) => readLines(file, service.name).slice(-n),
        lines: (options: LogsOptions = {}) => followFile(file, service.name, options, detached, () => fs.existsSync(run.dir)),
        endFollowers: () => {},
      },
      stop: refuse("stop()"),
      kill: refuse("kill()"),
      pause: refuse("pause()"),
      resume: refuse("resume()"),
      restart: refuse("restart()"),
    };
  }

  #subscribe(listener: (event: HarnessEvent) => void): () => void {
    let last = this.states();
    const timer = setInterval(() => {
      const now = this.states();
      for (const [service, state] of Object.entries(now)) {
        if (last[service] !== state) listener({ service, state: state as HarnessEvent["state"], addr: this.plan.services[service]?.addr });
      }
      last = now;
    }, EVENTS_POLL_MS).unref();
    const stop = () => clearInterval(timer);
    this.#detached.signal.addEventListener("abort", stop, { once: true });
    return stop;
  }
}

function readLines(file: string, service: string): LogLine[] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const time = new Date();
  return text
    .split("\n")
    .slice(0, -1)
    .map((line) => ({ service, stream: "stdout" as const, line, time }));
}

/** A log file's lines (`tail`), then with `follow` its new lines until the signal, the detach or the run's end. */
async function* followFile(file: string, service: string, options: LogsOptions, detached: AbortSignal, live: () => boolean): AsyncGenerator<LogLine> {
  const signal = options.signal ? AbortSignal.any([options.signal, detached]) : detached;
  let offset = 0;
  let partial = "";
  const read = (): string[] => {
    let buffer: Buffer;
    try {
      buffer = fs.readFileSync(file);
    } catch {
      return [];
    }
    if (buffer.length <= offset) return [];
    const text = partial + buffer.subarray(offset).toString("utf8");
    offset = buffer.length;
    const lines = text.split("\n");
    partial = lines.pop()!;
    return lines;
  };
  const first = read();
  for (const line of first.slice(options.tail === undefined ? 0 : Math.max(0, first.length - options.tail))) yield { service, stream: "stdout", line, time: new Date() };
  if (!options.follow) return;
  while (!signal.aborted && live()) {
    await sleep(EVENTS_POLL_MS, undefined, { signal }).catch(() => {});
    for (const line of read()) yield { service, stream: "stdout", line, time: new Date() };
  }
}
