import fs from "node:fs";
import { parseArgs } from "node:util";
import { Harness } from "../harness/harness.js";
import type { LogLine } from "../logs/service-log.js";
import type { HarnessEvent } from "../spec/types.js";
import type { Command } from "./commands.js";
import { upDetached } from "./detach.js";
import { prefixer } from "./log-prefix.js";

export const upCommand: Command = {
  summary:
    "Start the topology, print each service's state and address, then stream every service's log\n" +
    "prefixed by its name. Ctrl-C (SIGINT) or SIGTERM stops every service and exits.",
  usage:
    "meshbed up [-f services.yaml] [--detach]\n\n" +
    "  -f, --file     the topology file (default: services.yaml)\n" +
    "  -d, --detach   start in the background and return once every service is healthy;\n" +
    "                 then use `meshbed status`, `meshbed logs`, `meshbed down`\n" +
    "      --run-id   the run's id (default: 6 random characters)",
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        file: { type: "string", short: "f", default: "services.yaml" },
        detach: { type: "boolean", short: "d" },
        "run-id": { type: "string" },
      },
    });
    if (values.detach) {
      // Bad input is reported here, before anything goes to the background.
      Harness.fromFile(values.file!);
      const { runId, ok, log } = await upDetached(values.file!);
      process.stdout.write(fs.readFileSync(log, "utf8"));
      if (!ok) return 1;
      console.log(`Run ${runId} is up in the background. \`meshbed down ${runId}\` stops it.`);
      return 0;
    }
    const builder = values["run-id"] ? Harness.fromFile(values.file!).withOptions({ runId: values["run-id"] }) : Harness.fromFile(values.file!);
    const stopRequested = new AbortController();
    const onSignal = () => stopRequested.abort();
    // Persistent listeners: they tell the harness's own hooks that this command owns the exit.
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const harness = await builder.start({ onEvent: printEvent, signal: stopRequested.signal });
    const names = Object.keys(harness.services);
    console.log(`\nAll ${names.length} services are healthy (run ${harness.runId}). Ctrl-C stops them.\n`);
    const prefix = prefixer(names, process.stdout.isTTY === true);
    const print = (line: LogLine) => process.stdout.write(`${prefix(line.service)}${line.line}\n`);
    const follows = names.map(async (name) => {
      for await (const line of harness.service(name).logs({ follow: true, signal: stopRequested.signal })) print(line);
    });
    await new Promise((resolve) => stopRequested.signal.addEventListener("abort", resolve, { once: true }));
    console.log("\nStopping…");
    await harness.stop();
    await Promise.allSettled(follows);
    console.log("Stopped.");
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    return 0;
  },
};

function printEvent(event: HarnessEvent): void {
  const where = event.addr ? ` ${event.addr}` : "";
  const why = event.error ? `: ${event.error.message.split("\n")[0]}` : "";
  console.log(`  ${event.service.padEnd(20)} ${event.state}${event.state === "healthy" ? where : ""}${why}`);
}
