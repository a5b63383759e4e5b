import fs from "node:fs";
import path from "node:path";
import { type Resource, removeRunDir } from "./run-state.js";
import { type RunRecord, listRuns } from "./runs.js";
import { HarnessError } from "../errors.js";

/**
 * How one family of resources is undone. The family is the part of a resource's `kind` before the
 * first `-`: `process`, `docker`, `remote`, `mesh`, `firewall`…
 */
export interface FamilyReaper {
  /** After a crash, from any process: undoes every resource of the family that a run recorded. */
  reap(run: RunRecord, resources: readonly Resource[]): Promise<void>;
  /**
   * Synchronous last resort when the process that made the resources exits without stopping (the
   * `exit` event): ends what it can of them at once.
   */
  killNow?(resources: readonly Resource[]): void;
}

export function familyOf(resource: Resource): string {
  return resource.kind.split("-", 1)[0]!;
}

/**
 * Family → its reaper, imported on first use, so that reaping processes never loads dockerode or
 * ssh2. The records do not know how their resources are undone: whoever knows the families fills
 * the registry (src/runtimes/reapers.ts).
 */
export class ReaperRegistry {
  readonly #loaders: ReadonlyMap<string, () => Promise<FamilyReaper>>;
  readonly #loaded = new Map<string, FamilyReaper>();

  constructor(loaders: Iterable<readonly [family: string, load: () => Promise<FamilyReaper>]>) {
    this.#loaders = new Map(loaders);
  }

  /** The family's reaper; undefined for a family nobody registered. */
  async load(family: string): Promise<FamilyReaper | undefined> {
    const loaded = this.#loaded.get(family);
    if (loaded) return loaded;
    const load = this.#loaders.get(family);
    if (!load) return undefined;
    const reaper = await load();
    this.#loaded.set(family, reaper);
    return reaper;
  }

  /** Loads these families' reapers ahead: `killNow` runs at the exit event, where nothing can be awaited. */
  async preload(families: Iterable<string>): Promise<void> {
    await Promise.all([...new Set(families)].map((family) => this.load(family)));
  }

  /** Each family's `killNow` (of the reapers loaded so far), given that family's resources; in the order families were registered. */
  killNow(resources: readonly Resource[]): void {
    for (const family of this.#loaders.keys()) {
      const killNow = this.#loaded.get(family)?.killNow;
      const own = resources.filter((r) => familyOf(r) === family);
      if (killNow && own.length > 0) killNow(own);
    }
  }
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
export async function reapOrphansWith(reapers: ReaperRegistry, runs: RunRecord[] = listRuns(), options: ReapOptions = {}): Promise<ReapReport[]> {
  const reports: ReapReport[] = [];
  for (const run of runs.filter((r) => !r.ownerAlive && !failedRecently(r, options.retryAfterMs ?? 0))) reports.push(await reapRunWith(reapers, run));
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
export async function reapRunWith(reapers: ReaperRegistry, run: RunRecord): Promise<ReapReport> {
  const report: ReapReport = { runId: run.runId, reaped: [], failed: [] };
  const byFamily = new Map<string, Resource[]>();
  for (const resource of [...run.state.resources].reverse()) {
    const family = familyOf(resource);
    byFamily.set(family, [...(byFamily.get(family) ?? []), resource]);
  }
  for (const [family, resources] of byFamily) {
    try {
      const reaper = await reapers.load(family);
      if (!reaper) throw new HarnessError(`no reaper for resources of kind "${resources[0]!.kind}" (recorded by another version of meshbed?)`, { code: "E_CLEANUP_FAILED" });
      await reaper.reap(run, resources);
      report.reaped.push(...resources);
    } catch (error) {
      for (const resource of resources) report.failed.push({ resource, error: (error as Error).message });
    }
  }
  if (report.failed.length === 0) removeRunDir(run.dir);
  else fs.writeFileSync(path.join(run.dir, FAILED_MARK), `${new Date().toISOString()}\n`, { mode: 0o600 });
  return report;
}
