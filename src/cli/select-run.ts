import { ConfigError } from "../errors.js";
import { type RunRecord, listRuns } from "../state/runs.js";

/** The run a command is about: the one named, else the only live one. */
export function selectRun(runId: string | undefined): RunRecord {
  const runs = listRuns();
  if (runId !== undefined) {
    const run = runs.find((r) => r.runId === runId);
    if (!run) throw new ConfigError(`There is no run "${runId}"; runs: ${describe(runs)}`, { code: "E_CONFIG" });
    return run;
  }
  const live = runs.filter((r) => r.ownerAlive);
  if (live.length === 1) return live[0]!;
  if (live.length === 0) {
    throw new ConfigError("No meshbed run is live: start one with `meshbed up` (or `meshbed up --detach`)", { code: "E_CONFIG" });
  }
  throw new ConfigError(`${live.length} runs are live (${describe(live)}): name one with --run <id>`, { code: "E_CONFIG" });
}

function describe(runs: RunRecord[]): string {
  return runs.length === 0 ? "none" : runs.map((r) => `${r.runId}${r.ownerAlive ? "" : " (crashed)"}`).join(", ");
}
