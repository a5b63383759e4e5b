import { parseArgs } from "node:util";
import { groupAlive } from "../runtimes/process/process-group.js";
import { type RunRecord, listRuns } from "../state/runs.js";
import type { Command } from "./commands.js";

export const statusCommand: Command = {
  summary: "Show every run (live, or crashed and not yet reaped), or one: a table of service, target, state, addresses and pid or container.",
  usage:
    "meshbed status [--run <id>] [--json]\n\n      --run    only this run (exit 2 when there is none)\n      --json   print the status as JSON: [{runId, owner, ownerAlive, services: [{name, target, state, addresses, id}]}]",
  async run(args) {
    const { values } = parseArgs({ args, options: { run: { type: "string" }, json: { type: "boolean" } } });
    const runs = listRuns().filter((r) => (values.run ? r.runId === values.run : true));
    const rows = runs.map((run) => ({ runId: run.runId, owner: run.state.pid, ownerAlive: run.ownerAlive, services: servicesOf(run) }));
    if (values.json) {
      console.log(JSON.stringify(rows, null, 2));
      return 0;
    }
    if (rows.length === 0) {
      console.log(values.run ? `There is no run "${values.run}".` : "No meshbed runs. Start one with `meshbed up`.");
      return values.run ? 2 : 0;
    }
    for (const run of rows) {
      console.log(`Run ${run.runId} — owner pid ${run.owner}${run.ownerAlive ? "" : " (gone: `meshbed cleanup` reaps it)"}`);
      const table = [["SERVICE", "TARGET", "STATE", "ADDRESSES", "PID/CONTAINER"], ...run.services.map((s) => [s.name, s.target, s.state, s.addresses, s.id])];
      const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
      for (const row of table) console.log(`  ${row.map((c, i) => c.padEnd(widths[i]!)).join("  ")}`.trimEnd());
    }
    return 0;
  },
};

function servicesOf(run: RunRecord) {
  return Object.entries(run.state.services ?? {}).map(([name, noted]) => {
    const described = run.descriptor?.services[name];
    const resource = [...run.state.resources].reverse().find((r) => r.service === name);
    const pgid = resource?.kind === "process" ? Number(resource.pgid ?? resource.id) : undefined;
    // A process that died after start is seen here even though nobody noted it.
    const state = pgid !== undefined && noted === "healthy" && !groupAlive(pgid) ? "exited" : noted;
    const addresses = described
      ? Object.entries(described.addresses)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")
      : "";
    return { name, target: described?.target ?? targetOfResource(resource?.kind), state, addresses: addresses || "-", id: resource ? `${resource.kind} ${resource.id}` : "-" };
  });
}

/** A run still starting has no descriptor yet: its resources tell the target. */
function targetOfResource(kind: string | undefined): string {
  if (kind === undefined) return "";
  if (kind.startsWith("docker")) return "docker";
  if (kind.startsWith("remote")) return "remote";
  return kind;
}
