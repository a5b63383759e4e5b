import fs from "node:fs";
import { signalGroup } from "../runtimes/process/process-group.js";
import type { Resource } from "./run-state.js";
import { type RunRecord, listRuns } from "./runs.js";

/** How to undo one kind of resource after its run crashed: one entry per kind. */
export type Reaper = (resource: Resource) => Promise<void>;

const reapers: Record<string, Reaper> = {
  process: async (resource) => killGroupIfOurs(Number(resource.pgid ?? resource.id), resource.startedAt as number | undefined),
};

/** Lets a runtime say how its resources are reaped (docker containers, lab namespaces…). */
export function registerReaper(kind: string, reaper: Reaper): void {
  reapers[kind] = reaper;
}

export interface ReapReport {
  runId: string;
  reaped: Resource[];
  failed: { resource: Resource; error: string }[];
}

/**
 * Undoes what crashed runs left: every run whose owning process is gone. Resources are undone
 * newest first; the run dir is removed when all of them are.
 */
export async function reapOrphans(runs: RunRecord[] = listRuns()): Promise<ReapReport[]> {
  const reports: ReapReport[] = [];
  for (const run of runs.filter((r) => !r.ownerAlive)) reports.push(await reapRun(run));
  return reports;
}

export async function reapRun(run: RunRecord): Promise<ReapReport> {
  const report: ReapReport = { runId: run.runId, reaped: [], failed: [] };
  for (const resource of [...run.state.resources].reverse()) {
    const reaper = reapers[resource.kind];
    try {
      if (!reaper) throw new Error(`no reaper for resources of kind "${resource.kind}"`);
      await reaper(resource);
      report.reaped.push(resource);
    } catch (error) {
      report.failed.push({ resource, error: (error as Error).message });
    }
  }
  if (report.failed.length === 0) fs.rmSync(run.dir, { recursive: true, force: true });
  return report;
}

/**
 * Kills a process group left by a crashed run, unless its number now belongs to somebody else:
 * every member must have started no earlier than the recorded leader.
 */
function killGroupIfOurs(pgid: number, startedAt: number | undefined): void {
  const members = groupMembers(pgid);
  if (members.length === 0) return;
  if (startedAt !== undefined && members.some((m) => m.start < startedAt)) return;
  signalGroup(pgid, "SIGKILL");
}

function groupMembers(pgid: number): { pid: number; start: number }[] {
  const members: { pid: number; start: number }[] = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid) members.push({ pid: Number(name), start: Number(fields[19]) });
    } catch {
      // gone meanwhile
    }
  }
  return members;
}
