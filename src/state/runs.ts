import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { HarnessDescriptor } from "../plan/descriptor.js";
import { processStartTime } from "../host/proc-stat.js";
import type { StateFile } from "./run-state.js";
import { readStateFile } from "./state-file.js";

/** A run found on disk: its state file, whether its owner still lives, and its descriptor once started. */
export interface RunRecord {
  runId: string;
  dir: string;
  state: StateFile;
  /** Whether the process that owns the run is still the one that started it. */
  ownerAlive: boolean;
  descriptor: HarnessDescriptor | undefined;
}

/** Every run with a state dir under `root` (default: the temp dir, where runs keep theirs). */
export function listRuns(root = os.tmpdir()): RunRecord[] {
  let names: string[];
  try {
    names = fs.readdirSync(root).filter((n) => n.startsWith("harness-"));
  } catch {
    return [];
  }
  const runs: RunRecord[] = [];
  for (const name of names) {
    const record = readRun(path.join(root, name));
    if (record) runs.push(record);
  }
  return runs.sort((a, b) => a.state.startedAt.localeCompare(b.state.startedAt));
}

/** How old a run dir without a state file must be to be taken for a dead run's (its owner writes one at once). */
const STATELESS_AFTER_MS = 1_000;

export function readRun(dir: string): RunRecord | undefined {
  // The .tmp when a process was killed between writing it and renaming it over state.json (a state longer than a page).
  const state = readStateFile<StateFile>(path.join(dir, "state.json")) ?? readStateFile<StateFile>(path.join(dir, "state.json.tmp"));
  if (!state) return statelessRun(dir);
  const descriptor = readJson<HarnessDescriptor>(path.join(dir, "descriptor.json"));
  return { runId: state.runId, dir, state, ownerAlive: ownerAlive(state), descriptor };
}

function ownerAlive(state: StateFile): boolean {
  try {
    process.kill(state.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  // The pid may have been reused since: the start time tells.
  return state.pidStart == null || processStartTime(state.pid) === state.pidStart;
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

/**
 * A run dir with no state file left (a process died while making or removing it): nothing is
 * recorded in it, so it is a dead run's with no resources, for a cleanup to remove. A dir younger
 * than a second may be a start's, between its mkdir and its first write: not yet.
 */
function statelessRun(dir: string): RunRecord | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    return undefined;
  }
  if (!stat.isDirectory() || Date.now() - stat.mtimeMs < STATELESS_AFTER_MS) return undefined;
  const runId = path.basename(dir).replace(/^harness-/, "");
  const state: StateFile = { runId, pid: 0, pidStart: null, startedAt: stat.mtime.toISOString(), services: {}, resources: [] };
  return { runId, dir, state, ownerAlive: false, descriptor: undefined };
}
