import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { ProcessOptions } from "../../src/public/index.js";

export const FIXTURES = fileURLToPath(new URL("../fixtures/", import.meta.url));
export const REPO = fileURLToPath(new URL("../../", import.meta.url));
const RECORD_PID = path.join(FIXTURES, "record-pid.cjs");

export function fixture(name: string): string {
  return path.join(FIXTURES, name);
}

/**
 * Whether a process of that pid runs (signal 0 delivers nothing, it only checks). A zombie is
 * dead: orphaned grandchildren are reaped by init, which on these machines takes ~1.5 s.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state === "Z" || state === "X";
  } catch {
    return false;
  }
}

/** Polls `condition` until it holds; throws with `what` after `ms`. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** The pids of `pids` that are still alive, after giving them `ms` to go. */
export async function survivors(pids: readonly number[], ms = 0): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = pids.filter(alive);
    if (left.length === 0 || Date.now() >= deadline) return left;
    await sleep(10);
  }
}

export function stateDirOf(runId: string): string {
  return path.join(os.tmpdir(), `harness-${runId}`);
}

interface Stoppable {
  stop(): Promise<unknown>;
}

/**
 * One test's processes: every node process of its topology records itself in a pid dir (through
 * `NODE_OPTIONS=--require record-pid.cjs`, which children and grandchildren inherit), so the test
 * can assert that each is gone, and `cleanup()` can stop what a failing test left behind. Only
 * processes whose environment carries this tracker's own pid dir are ever signalled.
 */
export class ProcessTracker {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-e2e-"));
  readonly pidDir = path.join(this.dir, "pids");
  readonly #runIds: string[] = [];
  readonly #harnesses: Stoppable[] = [];
  readonly #extraPids: number[] = [];

  constructor() {
    fs.mkdirSync(this.pidDir);
  }

  /** A fresh run id, whose state dir `cleanup()` removes if a test left it. */
  runId(): string {
    const id = `t${randomBytes(4).toString("hex")}`;
    this.#runIds.push(id);
    return id;
  }

  /**
   * Options of a process service that runs a fixture with node and records its pids. Without
   * `dependsOn` (spread it in at the call): a `dependsOn: string[]` would make the builder infer
   * the service's name as `string` and lose the typed `services`.
   */
  node(name: string, options: Omit<ProcessOptions, "binary" | "dependsOn"> = {}): Omit<ProcessOptions, "dependsOn"> {
    return {
      ...options,
      binary: process.execPath,
      args: [fixture(name), ...(options.args ?? [])],
      env: { ...this.env(), ...options.env },
    };
  }

  /** The env that makes every node process started with it record its pid here. */
  env(): Record<string, string> {
    return { NODE_OPTIONS: `--require ${RECORD_PID}`, PID_DIR: this.pidDir };
  }

  /** A run id chosen elsewhere (by a child script) whose state dir `cleanup()` removes if left. */
  adoptRunId(id: string): void {
    this.#runIds.push(id);
  }

  /** Registers something to stop in `cleanup()` (a harness the test may not get to stop). */
  adopt<T extends Stoppable>(harness: T): T {
    this.#harnesses.push(harness);
    return harness;
  }

  /** A pid started outside any topology (a child script) that `cleanup()` must also end. */
  watch(pid: number): void {
    this.#extraPids.push(pid);
  }

  /** Every recorded pid, or those of one service. */
  pids(service?: string): number[] {
    return fs
      .readdirSync(this.pidDir)
      .map((file) => /^(.*)\.(\d+)$/.exec(file))
      .filter((m): m is RegExpExecArray => m !== null && (service === undefined || m[1] === service))
      .map((m) => Number(m[2]));
  }

  /** Waits until `service` has recorded at least `count` processes; returns them. */
  async waitForPids(service: string, count: number, ms = 10_000): Promise<number[]> {
    await waitUntil(() => this.pids(service).length >= count, ms, `${count} process(es) of "${service}" to start`);
    return this.pids(service);
  }

  /** Stops adopted harnesses and kills whatever of this test still runs; removes state dirs. */
  async cleanup(): Promise<void> {
    await Promise.allSettled(this.#harnesses.map((h) => h.stop()));
    const mine = [...this.pids(), ...this.#extraPids].filter((pid) => alive(pid) && this.#owns(pid));
    for (const pid of mine) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
    await survivors(mine, 5_000);
    for (const id of this.#runIds) fs.rmSync(stateDirOf(id), { recursive: true, force: true });
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Guards against pid reuse: a process is this test's only if its environment names our pid dir. */
  #owns(pid: number): boolean {
    try {
      const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
      return environ.includes(`PID_DIR=${this.pidDir}`) || this.#extraPids.includes(pid);
    } catch {
      return false;
    }
  }
}
