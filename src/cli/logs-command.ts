import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { ConfigError } from "../errors.js";
import type { Command } from "./commands.js";
import { prefixer } from "./log-prefix.js";
import { selectRun } from "./select-run.js";

export const logsCommand: Command = {
  summary: "Print the logs of a run's services, prefixed by service; -f follows new lines until the run ends or Ctrl-C.",
  usage:
    "meshbed logs [-f] [-n <lines>] [--run <id>] [--json] [service…]\n\n" +
    "  service…       only these services (default: every one)\n" +
    "  -f, --follow   keep printing new lines until the run ends (or Ctrl-C)\n" +
    "  -n, --tail     start with the last <lines> of each log (default: all)\n" +
    "      --run      the run (default: the only live one)\n" +
    "      --json     one JSON object per line: {service, line}",
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { follow: { type: "boolean", short: "f" }, tail: { type: "string", short: "n" }, run: { type: "string" }, json: { type: "boolean" } },
    });
    const run = selectRun(values.run);
    const all = Object.keys(run.state.services ?? {});
    const services = positionals.length > 0 ? positionals : all;
    for (const s of services) {
      if (!all.includes(s)) throw new ConfigError(`Run ${run.runId} has no service "${s}" (${all.join(", ")})`, { code: "E_CONFIG", service: s });
    }
    const prefix = prefixer(services, process.stdout.isTTY === true);
    const print = values.json
      ? (service: string, line: string) => process.stdout.write(`${JSON.stringify({ service, line })}\n`)
      : (service: string, line: string) => process.stdout.write(`${prefix(service)}${line}\n`);
    const tail = values.tail === undefined ? Infinity : Number(values.tail);
    if (!(tail >= 0)) throw new ConfigError(`Expected --tail to be a number of lines, got ${JSON.stringify(values.tail)}`, { code: "E_CONFIG" });
    const offsets = new Map<string, number>();
    for (const service of services) {
      const file = path.join(run.dir, service, "service.log");
      const text = readFrom(file, 0);
      const lines = text.split("\n").slice(0, -1);
      for (const line of lines.slice(Math.max(0, lines.length - tail))) print(service, line);
      offsets.set(service, Buffer.byteLength(text));
    }
    if (!values.follow) return 0;
    let stop = false;
    const onSignal = () => (stop = true);
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const partial = new Map<string, string>();
    while (!stop && fs.existsSync(run.dir)) {
      for (const service of services) {
        const text = readFrom(path.join(run.dir, service, "service.log"), offsets.get(service)!);
        if (text === "") continue;
        offsets.set(service, offsets.get(service)! + Buffer.byteLength(text));
        const lines = ((partial.get(service) ?? "") + text).split("\n");
        partial.set(service, lines.pop()!);
        for (const line of lines) print(service, line);
      }
      await sleep(100);
    }
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    return 0;
  },
};

function readFrom(file: string, offset: number): string {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch {
    return "";
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size <= offset) return "";
    const buffer = Buffer.alloc(size - offset);
    fs.readSync(fd, buffer, 0, buffer.length, offset);
    // Only whole UTF-8 characters: stop before a character cut at the end.
    return buffer.toString("utf8").replace(/\uFFFD$/, "");
  } finally {
    fs.closeSync(fd);
  }
}
