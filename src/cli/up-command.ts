import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { Harness } from "../harness/harness.js";
import { actAsReuseOwner } from "../harness/reuse.js";
import { watchServices } from "../harness/watch-services.js";
import type { LogLine } from "../logs/service-log.js";
import type { HarnessEvent } from "../topology/types.js";
import type { Command } from "./commands.js";
import { upDetached } from "./detach.js";
import { prefixer } from "./log-prefix.js";
import { StartProgress } from "./progress.js";
import { readStateFile } from "../state/state-file.js";

export const upCommand: Command = {
  summary:
    "Start the topology, then stream every service's log prefixed by its name; Ctrl-C stops it all.\n" +
    "While it starts, one line per service shows its state (waiting, starting, healthy, failed): rewritten in\n" +
    "place on a terminal, a plain line per change otherwise. Ctrl-C (SIGINT) or SIGTERM stops every service and exits.\n" +
    "Exit codes: 0 stopped cleanly, 1 a service failed to start or stop, 2 bad input (the file, an option).",
  usage:
    "meshbed up [-f services.yaml] [--detach] [--watch] [--run-id <id>] [--status-port <port>] [--json]\n\n" +
    "  -f, --file     the topology file (default: services.yaml)\n" +
    "  -d, --detach   start in the background and return once every service is healthy;\n" +
    "                 then use `meshbed status`, `meshbed logs`, `meshbed down`\n" +
    "  -w, --watch    restart a service (same port, address and env) when its binary, a file of its `watch` globs\n" +
    "                 or its package's folder changes, and the services that name it in `restart_with`; a line per restart\n" +
    "      --run-id   the run's id (default: 6 random characters)\n" +
    "      --status-port  serve the run's status on 127.0.0.1:<port> (0: a free port; default: network.status_port,\n" +
    "                 else none): a status page at /, /health, /services, /events, which `meshbed status` follows live (see its help)\n" +
    '      --json     print JSON lines instead of text: {type:"state",service,state,addr?,error?} per change,\n' +
    '                 {type:"up",runId,registry} once healthy, then {type:"log",service,stream,line,time};\n' +
    "                 with --detach, one JSON object {runId,registry}",
  async run(args) {
    // `up` owns its run: with `reuse: true` it records it for runners to attach to (and never attaches).
    actAsReuseOwner();
    const { values } = parseArgs({
      args,
      options: {
        file: { type: "string", short: "f", default: "services.yaml" },
        detach: { type: "boolean", short: "d" },
        watch: { type: "boolean", short: "w" },
        "run-id": { type: "string" },
        "status-port": { type: "string" },
        json: { type: "boolean" },
      },
    });
    const json = values.json === true;
    const statusPort = values["status-port"];
    if (values.detach) {
      // Bad input is reported here, before anything goes to the background.
      withStatusPort(Harness.fromFile(values.file!), statusPort);
      const extra = [...(statusPort === undefined ? [] : ["--status-port", statusPort]), ...(values.watch ? ["--watch"] : [])];
      const { runId, ok, log } = await upDetached(values.file!, values["run-id"], extra);
      const output = fs.readFileSync(log, "utf8");
      if (!ok) {
        process.stderr.write(output);
        return 1;
      }
      const runDir = path.join(path.dirname(log), `harness-${runId}`);
      const { statusUrl } = readStateFile<{ statusUrl?: string }>(path.join(runDir, "state.json")) ?? {};
      if (json) {
        const descriptor = JSON.parse(fs.readFileSync(path.join(runDir, "descriptor.json"), "utf8"));
        console.log(JSON.stringify({ runId, registry: descriptor.registry, ...(statusUrl && { statusUrl }) }, null, 2));
        return 0;
      }
      process.stdout.write(output);
      if (statusUrl) console.log(`Status page: ${statusUrl}`);
      console.log(`Run ${runId} is up in the background. \`meshbed down ${runId}\` stops it.`);
      return 0;
    }
    const fromFile = withStatusPort(Harness.fromFile(values.file!), statusPort);
    const builder = values["run-id"] ? fromFile.withOptions({ runId: values["run-id"] }) : fromFile;
    const stopRequested = new AbortController();
    const onSignal = () => stopRequested.abort();
    // Persistent listeners: they tell the harness's own hooks that this command owns the exit.
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    try {
      const progress = new StartProgress(process.stdout);
      const onEvent = json ? printJsonEvent : (event: HarnessEvent) => progress.update(event);
      const harness = await builder.start({ onEvent, signal: stopRequested.signal });
      progress.finish();
      const names = Object.keys(harness.services);
      const statusUrl = harness.statusUrl;
      if (json) console.log(JSON.stringify({ type: "up", runId: harness.runId, registry: harness.registry(), ...(statusUrl && { statusUrl }) }));
      else console.log(`\nAll ${names.length} services are healthy (run ${harness.runId}). ${statusUrl ? `Status page: ${statusUrl}. ` : ""}Ctrl-C stops them.\n`);
      if (values.watch) {
        const report = json ? (line: string) => console.log(JSON.stringify({ type: "watch", line })) : (line: string) => console.log(`[watch] ${line}`);
        watchServices(harness, builder.toSpec(), { report, signal: stopRequested.signal });
      }
      const prefix = prefixer(names, process.stdout.isTTY === true);
      const print = json
        ? (line: LogLine) => process.stdout.write(`${JSON.stringify({ type: "log", ...line, time: line.time.toISOString() })}\n`)
        : (line: LogLine) => process.stdout.write(`${prefix(line.service)}${line.line}\n`);
      const follows = names.map(async (name) => {
        for await (const line of harness.service(name).logs({ follow: true, signal: stopRequested.signal })) print(line);
      });
      await new Promise((resolve) => stopRequested.signal.addEventListener("abort", resolve, { once: true }));
      if (!json) console.log("\nStopping…");
      await harness.stop();
      await Promise.allSettled(follows);
      if (!json) console.log("Stopped.");
      return 0;
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  },
};

/** `--status-port` over the file's `network.status_port`; validated as the option is (a bad one names `network.statusPort`). */
function withStatusPort<B extends ReturnType<typeof Harness.fromFile>>(builder: B, port: string | undefined): B {
  if (port === undefined) return builder;
  return builder.withOptions({ network: { statusPort: /^\d+$/.test(port) ? Number(port) : (port as unknown as number) } }) as B;
}

function printJsonEvent(event: HarnessEvent): void {
  const error = event.error ? { message: event.error.message, code: (event.error as { code?: string }).code } : undefined;
  console.log(JSON.stringify({ type: "state", service: event.service, state: event.state, addr: event.addr, error }));
}
