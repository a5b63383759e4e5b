import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { debugFor } from "../debug.js";
import { type ErrorCode, HarnessError, StartError } from "../errors.js";
import type { Plan } from "../plan/plan.js";
import { reapRun } from "../runtimes/reapers.js";
import type { RunState } from "../state/run-state.js";
import { readRun } from "../state/runs.js";
import type { StartOptions, TopologySpec } from "../topology/types.js";
import { AttachedRun, type ReuseRecord } from "./attached-run.js";
import { newRunId } from "./run-id.js";
import type { ServiceControl } from "./service-handle.js";
import { type TopologyIdentity, jsonSafe, topologyIdentity } from "./topology-hash.js";

const log = debugFor("harness");

/** How long a stale run's owner gets to stop it before it is reaped (as `meshbed down` waits). */
const STALE_STOP_MS = 30_000;

let owner = false;

/** This process owns the runs it starts (`meshbed up`, a reuse owner): `reuse: true` records them for others, and never attaches. */
export function actAsReuseOwner(): void {
  owner = true;
}

export function isReuseOwner(): boolean {
  return owner;
}

/** The output of a run's detached owner (`meshbed up -d`, a reuse owner); `meshbed down` removes it. */
export function detachedLogFile(runId: string): string {
  return path.join(os.tmpdir(), `meshbed-up-${runId}.log`);
}

/** Where a reuse owner that failed to start leaves its error, for the process that spawned it. */
function ownerErrorFile(runId: string): string {
  return path.join(os.tmpdir(), `meshbed-owner-${runId}.error.json`);
}

const recordName = (key: string) => `reuse-${key}.json`;

/**
 * The owner's part: what an attached harness is made of (the plan, each service's runtime info),
 * named after the topology's key so that finding it costs one `stat` per run dir.
 */
export function recordReusable(spec: TopologySpec, plan: Plan, state: RunState, controllers: ReadonlyMap<string, ServiceControl>): void {
  const { key, hash } = topologyIdentity(spec);
  const info: ReuseRecord["info"] = {};
  for (const [name, c] of controllers) info[name] = c.running?.info() ?? {};
  const record: ReuseRecord = { key, hash, plan, info };
  const file = path.join(state.dir, recordName(key));
  state.writePrivate(`${file}.tmp`, JSON.stringify(record, jsonSafe));
  fs.renameSync(`${file}.tmp`, file);
}

interface Candidate {
  dir: string;
  record: ReuseRecord;
}

/** Runs of the temp dir recorded for this key (live or not). */
function candidates(key: string, root = os.tmpdir()): Candidate[] {
  const found: Candidate[] = [];
  for (const name of fs.readdirSync(root)) {
    if (!name.startsWith("harness-")) continue;
    const dir = path.join(root, name);
    try {
      found.push({ dir, record: JSON.parse(fs.readFileSync(path.join(dir, recordName(key)), "utf8")) as ReuseRecord });
    } catch {
      // Not a reusable run of this topology.
    }
  }
  return found;
}

/**
 * `reuse: true` outside a run's owner: attaches to the live run of this topology, or else starts one
 * in a detached owner process (which outlives this one) and attaches to that. A live run of the same
 * key with another hash (the spec or a binary changed) is stopped by its owner and reaped first.
 */
export async function attachOrStart(spec: TopologySpec, options: StartOptions): Promise<AttachedRun> {
  const identity = topologyIdentity(spec);
  for (let started = 0; ; ) {
    const attached = await attachOrClear(identity);
    if (attached) return emitStates(attached, options);
    // An owner we started must be found: never start another after it (a bug would fork owners on).
    if (started > 0) {
      for (const c of candidates(identity.key)) {
        const pid = readRun(c.dir)?.state.pid;
        if (pid) process.kill(pid, "SIGTERM");
      }
      throw new HarnessError(`The owner of a reusable run started, but its records do not match this topology (key ${identity.key}): a bug of meshbed's, please report it`, { code: "E_INTERNAL" });
    }
    const release = await lock(identity.key);
    if (!release) continue; // Someone else started it meanwhile: attach to theirs.
    try {
      if (!candidates(identity.key).some((c) => c.record.hash === identity.hash && readRun(c.dir)?.ownerAlive)) {
        started++;
        await startOwner(spec, options);
      }
    } finally {
      release();
    }
  }
}

/** Attaches to a live match; stops and reaps stale runs of the key; `undefined` when nothing matches. */
async function attachOrClear(identity: TopologyIdentity): Promise<AttachedRun | undefined> {
  for (const { dir, record } of candidates(identity.key)) {
    const run = readRun(dir);
    if (!run) continue;
    if (run.ownerAlive && record.hash === identity.hash) {
      // Its owner is still starting it (a `meshbed up` of the same file): wait for the descriptor.
      if (!run.descriptor) return waitForDescriptor(dir).then(() => attachOrClear(identity));
      log(`run ${run.runId}: attached (reuse)`);
      return new AttachedRun(record.plan, record, dir, run.state);
    }
    log(`run ${run.runId}: ${run.ownerAlive ? "its topology changed" : "its owner is gone"}: ending it (reuse)`);
    if (run.ownerAlive) {
      process.kill(run.state.pid, "SIGTERM");
      const deadline = Date.now() + STALE_STOP_MS;
      while (readRun(dir)?.ownerAlive && Date.now() < deadline) await sleep(25);
    }
    const left = readRun(dir);
    if (left) await reapRun(left);
  }
  return undefined;
}

async function waitForDescriptor(dir: string): Promise<void> {
  while (!fs.existsSync(path.join(dir, "descriptor.json")) && readRun(dir)?.ownerAlive) await sleep(10);
}

/** Tells the caller's `onEvent` each service's current state, as a start would have. */
function emitStates(run: AttachedRun, options: StartOptions): AttachedRun {
  if (options.onEvent) {
    const states = run.states();
    for (const service of Object.values(run.plan.services)) options.onEvent({ service: service.name, state: (states[service.name] ?? "healthy") as "healthy", addr: service.addr });
  }
  return run;
}

/** One starter per topology: `undefined` when another process held the lock (and has let it go). */
async function lock(key: string): Promise<(() => void) | undefined> {
  const file = path.join(os.tmpdir(), `meshbed-reuse-${key}.lock`);
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: "wx", mode: 0o600 });
      return () => fs.rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = Number(fs.readFileSync(file, "utf8") || "0");
    if (!alive(holder)) {
      fs.rmSync(file, { force: true });
      continue;
    }
    while (fs.existsSync(file) && alive(holder)) await sleep(10);
    return undefined;
  }
}

function alive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The owner's entry: beside this file (dist/reuse-owner.js; src/harness/reuse-owner.ts under tsx). */
function ownerEntry(): { file: string; loader: string[] } {
  const ts = fileURLToPath(new URL("./reuse-owner.ts", import.meta.url));
  if (import.meta.url.endsWith(".ts") && fs.existsSync(ts)) return { file: ts, loader: ["--import", "tsx"] };
  return { file: fileURLToPath(new URL("./reuse-owner.js", import.meta.url)), loader: [] };
}

/** Starts the topology in a detached owner process and resolves once it is healthy (its descriptor written). */
async function startOwner(spec: TopologySpec, options: StartOptions): Promise<void> {
  const runId = spec.options.runId ?? newRunId();
  const dir = spec.options.stateDir ?? path.join(os.tmpdir(), `harness-${runId}`);
  const specFile = path.join(os.tmpdir(), `meshbed-owner-${runId}.spec.json`);
  fs.writeFileSync(specFile, JSON.stringify(spec, jsonSafe), { mode: 0o600 });
  const logFile = detachedLogFile(runId);
  const out = fs.openSync(logFile, "a", 0o600);
  const { file, loader } = ownerEntry();
  const args = [...loader, file, specFile, runId, ...(options.timeoutMs === undefined ? [] : [String(options.timeoutMs)])];
  const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", out, out] });
  fs.closeSync(out);
  child.unref();
  let exited = false;
  child.once("exit", () => (exited = true));
  child.once("error", () => (exited = true));
  const descriptor = path.join(dir, "descriptor.json");
  while (!exited && !fs.existsSync(descriptor)) {
    if (options.signal?.aborted) {
      child.kill("SIGTERM");
      throw new StartError("The start was aborted", { code: "E_START_ABORTED", cause: options.signal.reason });
    }
    await sleep(5);
  }
  if (!exited) {
    log(`run ${runId}: started in owner ${child.pid} (reuse)`);
    return;
  }
  fs.rmSync(specFile, { force: true });
  throw ownerFailure(runId, logFile);
}

function ownerFailure(runId: string, logFile: string): HarnessError {
  const errorFile = ownerErrorFile(runId);
  let failure: { message: string; code: ErrorCode; service?: string; logTail?: string[] } | undefined;
  try {
    failure = JSON.parse(fs.readFileSync(errorFile, "utf8"));
  } catch {
    failure = undefined;
  }
  const output = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "";
  fs.rmSync(errorFile, { force: true });
  fs.rmSync(logFile, { force: true });
  if (failure) return new StartError(failure.message, { code: failure.code, service: failure.service, logTail: failure.logTail });
  return new StartError(`The owner process of run ${runId} (\`reuse: true\`) exited before the topology was healthy:\n${output.trim().split("\n").slice(-20).join("\n")}`, {
    code: "E_INTERNAL",
  });
}

/** The owner's side of a failed start: what `ownerFailure` reads. */
export function writeOwnerFailure(runId: string, error: unknown): void {
  const e = error as HarnessError;
  const failure = { message: e?.message ?? String(error), code: e instanceof HarnessError ? e.code : "E_INTERNAL", service: e?.service, logTail: e?.logTail };
  fs.writeFileSync(ownerErrorFile(runId), JSON.stringify(failure), { mode: 0o600 });
}
