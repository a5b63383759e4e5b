import fs from "node:fs";
import path from "node:path";

/** Something a run created and must undo: what the reaper reads after a crash. */
export interface Resource {
  kind: string;
  service?: string;
  /** Identifies the resource within its kind: a pid, a container id, an interface name. */
  id: string;
  [detail: string]: unknown;
}

interface StateFile {
  runId: string;
  /** The process that owns the run: when it is gone, the run may be reaped. */
  pid: number;
  startedAt: string;
  resources: Resource[];
}

/**
 * The run's state dir (`/tmp/harness-<runId>/`, 0700) and `state.json` in it, which records each
 * resource as it is created, so that a crashed run can be reaped.
 */
export class RunState {
  readonly #file: string;
  readonly #state: StateFile;

  private constructor(
    readonly dir: string,
    runId: string,
  ) {
    this.#file = path.join(dir, "state.json");
    this.#state = { runId, pid: process.pid, startedAt: new Date().toISOString(), resources: [] };
  }

  static create(dir: string, runId: string): RunState {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
    const state = new RunState(dir, runId);
    state.#save();
    return state;
  }

  /** Creates a service's own folder (0700). */
  serviceDir(service: string): string {
    const dir = path.join(this.dir, service);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  /** Writes a file only the owner can read (env files, keys). */
  writePrivate(file: string, content: string): void {
    fs.writeFileSync(file, content, { mode: 0o600 });
    fs.chmodSync(file, 0o600);
  }

  record(resource: Resource): void {
    this.#state.resources.push(resource);
    this.#save();
  }

  forget(kind: string, id: string): void {
    this.#state.resources = this.#state.resources.filter((r) => !(r.kind === kind && r.id === id));
    this.#save();
  }

  get resources(): readonly Resource[] {
    return this.#state.resources;
  }

  /** Removes the state dir: the run left nothing behind. */
  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  #save(): void {
    // Written whole and renamed, so that a crash never leaves half a file for the reaper.
    const tmp = `${this.#file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(this.#state, null, 2), { mode: 0o600 });
    fs.renameSync(tmp, this.#file);
  }
}
