import fs from "node:fs";
import path from "node:path";
import { ownStartTime } from "../host/proc-stat.js";
import { markRunOnDisk, unmarkRunOnDisk } from "./owner-marks.js";
import { StateFileWriter } from "./state-file.js";

/** Something a run created and must undo: what the reaper reads after a crash. */
export interface Resource {
  kind: string;
  service?: string;
  /** Identifies the resource within its kind: a pid, a container id, an interface name. */
  id: string;
  [detail: string]: unknown;
}

export interface StateFile {
  runId: string;
  /** The process that owns the run: when it is gone, the run may be reaped. */
  pid: number;
  /** When the owner started (clock ticks since boot, /proc/<pid>/stat): tells a reused pid apart. */
  pidStart: number | null;
  startedAt: string;
  /** The last state each service reached, for `meshbed status`. */
  services: Record<string, string>;
  resources: Resource[];
  /** Where the run serves its status (`network.statusPort`): what `meshbed status --watch` follows. */
  statusUrl?: string;
}

/**
 * The run's state dir (`/tmp/harness-<runId>/`, 0700) and `state.json` in it, which records each
 * resource as it is created, so that a crashed run can be reaped.
 */
export class RunState {
  readonly #file: string;
  readonly #state: StateFile;
  #writer: StateFileWriter | undefined;
  #pending: NodeJS.Immediate | undefined;
  /** A write of the resources is queued for the end of this job (see `record`). */
  #queued = false;
  #removed = false;
  /** While the run stops (`holdWrites`): what is forgotten or noted waits, since the dir is removed at the end. */
  #held = false;
  #dirty = false;

  private constructor(
    readonly dir: string,
    runId: string,
  ) {
    this.#file = path.join(dir, "state.json");
    this.#state = { runId, pid: process.pid, pidStart: ownStartTime(), startedAt: new Date().toISOString(), services: {}, resources: [] };
  }

  static create(dir: string, runId: string): RunState {
    // Before anything of the run is on disk: a crash from here on is seen by the next start's marker check.
    markRunOnDisk();
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

  /**
   * Writes a file only the owner can read (env files, keys). A new file is made 0600 (a umask only
   * takes bits away); one that was there already may have been looser, so it is set to 0600.
   */
  writePrivate(file: string, content: string): void {
    try {
      fs.writeFileSync(file, content, { mode: 0o600, flag: "wx" });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    fs.writeFileSync(file, content, { mode: 0o600 });
    fs.chmodSync(file, 0o600);
  }

  /**
   * Records a resource. Written before this job yields to the event loop (a microtask), once for
   * every record of the job: the 50 spawns of a level answer in one turn, and a write each cost a
   * quarter of their start. No I/O, timer or signal handler of this process runs in between.
   */
  record(resource: Resource): void {
    this.#state.resources.push(resource);
    this.#saveSoon();
  }

  /**
   * Notes a service's state for `meshbed status`. Written on the next turn of the event loop, once
   * for every transition of that turn: a start of 50 services makes 150 transitions, and a write
   * each cost more than the rest of the start. Resources are still written at once.
   */
  noteService(service: string, state: string): void {
    this.#state.services[service] = state;
    if (this.#held) {
      this.#dirty = true;
      return;
    }
    this.#pending ??= setImmediate(() => {
      this.#pending = undefined;
      if (!this.#removed) this.#save();
    }).unref();
  }

  /** Records where the run serves its status (written at once: the start has not begun). */
  noteStatusUrl(url: string): void {
    this.#state.statusUrl = url;
    this.#save();
  }

  /** Writes what test files and `meshbed status` read once every service is healthy. */
  writeDescriptor(descriptor: unknown): void {
    // A reader that sees the descriptor (`up --detach`, then `meshbed status`) must see every
    // service healthy: the states noted this turn go out first.
    if (this.#pending || this.#queued) this.#save();
    this.writePrivate(path.join(this.dir, "descriptor.json"), JSON.stringify(descriptor, null, 2));
  }

  /**
   * The run no longer says it is ready: its descriptor goes, at the next turn — while the services
   * stop (whoever reads it now would attach to a run on its way down).
   */
  withdrawDescriptor(): void {
    setImmediate(() => {
      if (!this.#removed) fs.rmSync(path.join(this.dir, "descriptor.json"), { force: true });
    });
  }

  forget(kind: string, id: string): void {
    this.#state.resources = this.#state.resources.filter((r) => !(r.kind === kind && r.id === id));
    if (this.#held) this.#dirty = true;
    else this.#saveSoon();
  }

  /**
   * From now on (the run stops), a forgotten resource and a noted state are written only by
   * `releaseWrites` — when the stop failed and the dir stays — not once each: the dir is removed at
   * the end. A record of the stop still reaching the reaper is safe: each family's reaper checks what
   * it undoes is still the resource it recorded (a pid's start time, a container's id). New records
   * are still written at once.
   */
  holdWrites(): void {
    this.#held = true;
    // States noted just before (a restart's "healthy") are held too: written now, the file would be
    // written out while the services stop, and removed right after.
    if (this.#pending) {
      clearImmediate(this.#pending);
      this.#pending = undefined;
      this.#dirty = true;
    }
  }

  /** Writes what `holdWrites` held back (the stop failed: the state stays for `meshbed status` and the reaper). */
  releaseWrites(): void {
    this.#held = false;
    if (this.#dirty && !this.#removed) this.#save();
    this.#dirty = false;
    // The run is over, its dir left for the reaper: no file held open for it.
    this.#writer?.close();
  }

  get resources(): readonly Resource[] {
    return this.#state.resources;
  }

  /** Removes the state dir: the run left nothing behind. */
  remove(): void {
    this.#removed = true;
    this.#writer?.close();
    removeRunDir(this.dir);
    unmarkRunOnDisk();
  }

  #saveSoon(): void {
    if (this.#queued) return;
    this.#queued = true;
    queueMicrotask(() => {
      if (this.#queued && !this.#removed) this.#save();
    });
  }

  #save(): void {
    this.#queued = false;
    if (this.#pending) clearImmediate(this.#pending);
    this.#pending = undefined;
    // Never half a file for the reaper, even when this process is killed meanwhile (state-file.ts).
    const text = JSON.stringify(this.#state, null, 2);
    if (this.#writer) this.#writer.write(text);
    else this.#writer = StateFileWriter.create(this.#file, text);
  }
}

/**
 * Removes a run's dir with its state file last: a process killed halfway (a stop, or a reap by
 * another start) leaves a dir that still says whose it is and what it held, so the next cleanup
 * finds it and finishes; a dir without its state file would be left for ever.
 */
export function removeRunDir(dir: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) if (entry.name !== "state.json") removeEntry(path.join(dir, entry.name), entry.isDirectory());
  // What is left is the state file (or nothing): no second walk of the dir.
  removeEntry(path.join(dir, "state.json"), false);
  try {
    fs.rmdirSync(dir);
  } catch {
    // Something appeared meanwhile (a write of a process still stopping): removed whole.
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A file, or a dir and what it holds (not what a link points to). By hand: `rmSync`'s own walk
 * first tries to remove each dir whole and catches the error, which cost half a stop of one process.
 */
function removeEntry(file: string, isDir: boolean): void {
  try {
    if (isDir) {
      for (const entry of fs.readdirSync(file, { withFileTypes: true })) removeEntry(path.join(file, entry.name), entry.isDirectory());
      fs.rmdirSync(file);
    } else {
      fs.unlinkSync(file);
    }
  } catch {
    fs.rmSync(file, { recursive: true, force: true });
  }
}
