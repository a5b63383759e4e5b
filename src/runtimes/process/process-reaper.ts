import { listProcStats } from "../../host/proc-stat.js";
import type { FamilyReaper } from "../../state/reap.js";
import { signalGroup } from "./process-group.js";

/** The process groups of a run (`process` resources: `pgid`, or the id, and `startedAt`). */
export const processReaper: FamilyReaper = {
  async reap(_run, resources) {
    for (const r of resources) killGroupIfOurs(Number(r.pgid ?? r.id), r.startedAt as number | undefined);
  },
  killNow(resources) {
    for (const r of resources) if (r.kind === "process") signalGroup(Number(r.pgid ?? r.id), "SIGKILL");
  },
};

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
