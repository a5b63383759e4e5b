import fs from "node:fs";
import path from "node:path";
import { listProcStats } from "../host/proc-stat.js";
import { signalGroup } from "../runtimes/process/process-group.js";
import type { Resource } from "./run-state.js";
import { type RunRecord, listRuns } from "./runs.js";

/**
 * Undoes, after a crash, every resource of one family (the part of `kind` before the first
 * `-`: `process`, `docker`, `remote`, `lab`…) that a run recorded. Loaded only when a crashed run
 * has such resources, so reaping processes never loads dockerode or ssh2.
 */
export type FamilyReaper = (run: RunRecord, resources: readonly Resource[]) => Promise<void>;

const families: Record<string, () => Promise<FamilyReaper>> = {
  process: async () => async (_run, resources) => {
    for (const r of resources) killGroupIfOurs(Number(r.pgid ?? r.id), r.startedAt as number | undefined);
  },
  docker: async () => {
    const { reapDockerRun } = await import("../runtimes/docker/docker-reaper.js");
    return (run) => reapDockerRun(run.runId);
  },
  remote: async () => (await import("../runtimes/ssh/ssh-reaper.js")).reapRemote,
  mesh: async () => (await import("../mesh/mesh-reaper.js")).reapMesh,
  firewall: async () => (await import("../harness/partition-reaper.js")).reapFirewall,
};

/** Lets a runtime or the lab say how its family of resources is reaped. */
export function registerReaper(family: string, load: () => Promise<FamilyReaper>): void {
  families[family] = load;
}

export interface ReapReport {
  runId: string;
  reaped: Resource[];
  failed: { resource: Resource; error: string }[];
}

const FAILED_MARK = "reap-failed";

export interface ReapOptions {
  /**
   * Skip a run whose last reap failed less than this long ago (a node that is unreachable stays
   * so for a while: each start must not try it again). Default: 0, always try (`meshbed cleanup`).
   */
  retryAfterMs?: number;
}

/** Undoes what crashed runs left: every run whose owning process is gone. */
export async function reapOrphans(runs: RunRecord[] = listRuns(), options: ReapOptions = {}): Promise<ReapReport[]> {
  const reports: ReapReport[] = [];
  for (const run of runs.filter((r) => !r.ownerAlive && !failedRecently(r, options.retryAfterMs ?? 0))) reports.push(await reapRun(run));
  return reports;
}

function failedRecently(run: RunRecord, ms: number): boolean {
  if (ms <= 0) return false;
  try {
    return Date.now() - fs.statSync(path.join(run.dir, FAILED_MARK)).mtimeMs < ms;
  } catch {
    return false;
  }
}

/** Undoes one run's resources, family by family, newest family first; removes its dir when all are gone. */
export async function reapRun(run: RunRecord): Promise<ReapReport> {
  const report: ReapReport = { runId: run.runId, reaped: [], failed: [] };
  const byFamily = new Map<string, Resource[]>();
  for (const resource of [...run.state.resources].reverse()) {
    const family = resource.kind.split("-", 1)[0]!;
    byFamily.set(family, [...(byFamily.get(family) ?? []), resource]);
  }
  for (const [family, resources] of byFamily) {
    try {
      const load = families[family];
      if (!load) throw new Error(`no reaper for resources of kind "${resources[0]!.kind}"`);
      await (await load())(run, resources);
      report.reaped.push(...resources);
    } catch (error) {
      for (const resource of resources) report.failed.push({ resource, error: (error as Error).message });
    }
  }
  if (report.failed.length === 0) fs.rmSync(run.dir, { recursive: true, force: true });
  else fs.writeFileSync(path.join(run.dir, FAILED_MARK), `${new Date().toISOString()}\n`, { mode: 0o600 });
  return report;
}

/**
 * Kills a process group left by a crashed run, unless its number now belongs to somebody else:
 * every member must have started no earlier than the recorded leader.
 */
function killGroupIfOurs(pgid: number, startedAt: number | undefined): void {
  const members = listProcStats().filter((stat) => stat.pgid === pgid);
  if (members.length === 0) return;
  if (startedAt !== undefined && members.some((m) => m.startTime < startedAt)) return;
  signalGroup(pgid, "SIGKILL");
}
