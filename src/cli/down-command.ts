import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { ConfigError } from "../errors.js";
import { reapRun } from "../runtimes/reapers.js";
import { readRun } from "../state/runs.js";
import type { Command } from "./commands.js";
import { detachedLogFile } from "./detach.js";
import { selectRun } from "./select-run.js";

export const downCommand: Command = {
  summary: "Stop a run: its owner (`meshbed up`, a test runner) is asked to stop every service; a crashed run is reaped.",
  usage:
    "meshbed down [runId] [--timeout <ms>] [--json]\n\n" +
    "  runId          the run (default: the only live one)\n" +
    "  --timeout      how long to wait for the owner to stop it, in ms (default: 30000)\n" +
    "  --json         print {runId, down, failed} as JSON",
  async run(args) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { timeout: { type: "string", default: "30000" }, json: { type: "boolean" } } });
    const timeout = Number(values.timeout);
    if (!Number.isFinite(timeout) || timeout < 0) throw new ConfigError(`Expected --timeout to be a number of milliseconds, got ${JSON.stringify(values.timeout)}`, { code: "E_CONFIG" });
    const run = selectRun(positionals[0]);
    if (run.ownerAlive) {
      process.kill(run.state.pid, "SIGTERM");
      const deadline = Date.now() + timeout;
      while (fs.existsSync(run.dir) && readRun(run.dir)?.ownerAlive && Date.now() < deadline) await sleep(50);
    }
    const left = readRun(run.dir);
    if (left) {
      const report = await reapRun(left);
      const failed = report.failed.map((f) => `${f.resource.kind} ${f.resource.id}: ${f.error}`);
      if (values.json) console.log(JSON.stringify({ runId: run.runId, down: failed.length === 0, failed }));
      for (const f of failed) console.error(`  could not remove ${f}`);
      if (failed.length > 0) return 1;
    }
    fs.rmSync(detachedLogFile(run.runId), { force: true });
    if (values.json) {
      if (!left) console.log(JSON.stringify({ runId: run.runId, down: true, failed: [] }));
    } else {
      console.log(`Run ${run.runId} is down.`);
    }
    return 0;
  },
};
