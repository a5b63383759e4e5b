import { type FamilyReaper, type ReapOptions, type ReapReport, ReaperRegistry, reapOrphansWith, reapRunWith } from "../state/reap.js";
import type { RunRecord } from "../state/runs.js";
import type { TargetKind } from "../topology/types.js";

interface Registration {
  family: string;
  /** The targets whose runs record resources of the family: their reaper is loaded before such a run creates anything. */
  recordedBy: readonly TargetKind[];
  load: () => Promise<FamilyReaper>;
}

/**
 * How each family of resources is undone, after a crash and at the exit of the process that made
 * them: one line per family, each imported only when needed, so that reaping processes never
 * loads dockerode or ssh2.
 */
const REGISTRATIONS: readonly Registration[] = [
  { family: "process", recordedBy: ["process"], load: async () => (await import("./process/process-reaper.js")).processReaper },
  { family: "docker", recordedBy: ["docker"], load: async () => (await import("./docker/docker-reaper.js")).dockerReaper },
  { family: "remote", recordedBy: ["remote_lan", "wireguard"], load: async () => ({ reap: (await import("./ssh/ssh-reaper.js")).reapRemote }) },
  // Containers and images on nodes' engines (the `docker` option of remote_lan and wireguard).
  { family: "nodedocker", recordedBy: ["remote_lan", "wireguard"], load: async () => (await import("./docker/node-docker-reaper.js")).nodeDockerReaper },
  { family: "mesh", recordedBy: ["wireguard"], load: async () => (await import("../mesh/mesh-reaper.js")).meshReaper },
  // Recorded by a run's partitions, whose own last resort (Partitions.removeHostNow) knows more than the records.
  { family: "firewall", recordedBy: [], load: async () => ({ reap: (await import("../faults/partition-reaper.js")).reapFirewall }) },
];

/** Also the exit hook's last resort: `reapers.killNow(resources)`, each family ending what it can at once. */
export const reapers = new ReaperRegistry(REGISTRATIONS.map((r) => [r.family, r.load] as const));

/** Undoes what crashed runs left: every run whose owning process is gone (`meshbed cleanup`, and every start on the side). */
export function reapOrphans(runs?: RunRecord[], options?: ReapOptions): Promise<ReapReport[]> {
  return reapOrphansWith(reapers, runs, options);
}

/** Undoes one run's resources; removes its dir when all are gone. */
export function reapRun(run: RunRecord): Promise<ReapReport> {
  return reapRunWith(reapers, run);
}

/** Loads the reapers of what runs of these targets record: a run does it before it creates anything. */
export function preloadReapers(targets: Iterable<TargetKind>): Promise<void> {
  const wanted = new Set(targets);
  return reapers.preload(REGISTRATIONS.filter((r) => r.recordedBy.some((t) => wanted.has(t))).map((r) => r.family));
}
