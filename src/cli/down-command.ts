import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { reapRun } from "../state/reap.js";
import { readRun } from "../state/runs.js";
import type { Command } from "./commands.js";
import { detachedLogFile } from "./detach.js";
import { selectRun } from "./select-run.js";

export const downCommand: Command = {
  summary: "Stop a run: its owner (`meshbed up`, a test runner) is asked to stop every service; a crashed run is reaped.",
  usage: "meshbed down [runId] [--timeout <ms>]\n\n  runId        the run (default: the only live one)\n  --timeout    how long to wait for the owner to stop it (default: 30000)",
  async run(args) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { timeout: { type: "string", default: "30000" } } });
    const run = selectRun(positionals[0]);
    if (run.ownerAlive) {
      process.kill(run.state.pid, "SIGTERM");
      const deadline = Date.now() + Number(values.timeout);
      while (fs.existsSync(run.dir) && readRun(run.dir)?.ownerAlive && Date.now() < deadline) await sleep(50);
    }
    const left = readRun(run.dir);
    if (left) {
      const report = await reapRun(left);
      for (const f of report.failed) console.error(`  could not remove ${f.resource.kind} ${f.resource.id}: ${f.error}`);
      if (report.failed.length > 0) return 1;
    }
    fs.rmSync(detachedLogFile(run.runId), { force: true });
    console.log(`Run ${run.runId} is down.`);
    return 0;
  },
};
