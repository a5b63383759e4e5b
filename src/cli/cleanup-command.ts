import { parseArgs } from "node:util";
import { reapOrphans } from "../runtimes/reapers.js";
import { clearMarks, deadOwnerMarks } from "../state/owner-marks.js";
import { listRuns } from "../state/runs.js";
import type { Command } from "./commands.js";

export const cleanupCommand: Command = {
  summary: "Reap what crashed runs left behind (runs whose owning process is gone): processes, containers, namespaces.",
  usage: "meshbed cleanup [--json]\n\n      --json   print what was reaped as JSON",
  async run(args) {
    const { values } = parseArgs({ args, options: { json: { type: "boolean" } } });
    // Every crashed owner's mark, those that starts put off included.
    const crashed = deadOwnerMarks({ deferred: true });
    const reports = await reapOrphans();
    // The marks of crashed owners whose runs are all reaped now: the next start need not scan again.
    clearMarks(crashed, listRuns());
    if (values.json) {
      console.log(JSON.stringify(reports, null, 2));
    } else if (reports.length === 0) {
      console.log("Nothing to clean up: no crashed runs.");
    } else {
      for (const r of reports) {
        console.log(`Run ${r.runId}: reaped ${r.reaped.length} resource(s)${r.failed.length ? `, ${r.failed.length} failed` : ""}`);
        for (const f of r.failed) console.log(`  ${f.resource.kind} ${f.resource.id}: ${f.error}`);
      }
    }
    return reports.some((r) => r.failed.length > 0) ? 1 : 0;
  },
};
