import { parseArgs } from "node:util";
import { ConfigError, HarnessError } from "../errors.js";
import { groupAlive } from "../runtimes/process/process-group.js";
import { type RunRecord, listRuns } from "../state/runs.js";
import type { Command } from "./commands.js";
import { selectRun } from "./select-run.js";

export const statusCommand: Command = {
  summary:
    "Show every run (live, or crashed and not yet reaped), or one: a table of service, target, state, addresses and pid or container.\n" +
    "`--watch` follows one run's state changes live, until it stops (the run needs a status server: `meshbed up --status-port 0`).",
  usage:
    "meshbed status [--run <id>] [--json] [--watch]\n\n      --run    only this run (exit 2 when there is none)\n      --json   print the status as JSON: [{runId, owner, ownerAlive, statusUrl?, services: [{name, target, state, addresses, id}]}]\n" +
    "  -w, --watch  print every service's state, then each change as it happens (from the run's /events), until the run\n" +
    "               stops or Ctrl-C; with --json, one JSON line per event. Defaults to the only live run",
  async run(args) {
    const { values } = parseArgs({ args, options: { run: { type: "string" }, json: { type: "boolean" }, watch: { type: "boolean", short: "w" } } });
    if (values.watch) return watch(values.run, values.json === true);
    const runs = listRuns().filter((r) => (values.run ? r.runId === values.run : true));
    const rows = runs.map((run) => ({
      runId: run.runId,
      owner: run.state.pid,
      ownerAlive: run.ownerAlive,
      ...(run.state.statusUrl && { statusUrl: run.state.statusUrl }),
      services: servicesOf(run),
    }));
    if (values.json) {
      console.log(JSON.stringify(rows, null, 2));
      return 0;
    }
    if (rows.length === 0) {
      console.log(values.run ? `There is no run "${values.run}".` : "No meshbed runs. Start one with `meshbed up`.");
      return values.run ? 2 : 0;
    }
    for (const run of rows) {
      const status = run.statusUrl && run.ownerAlive ? `, status page ${run.statusUrl}` : "";
      console.log(`Run ${run.runId} — owner pid ${run.owner}${run.ownerAlive ? "" : " (gone: `meshbed cleanup` reaps it)"}${status}`);
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

/** `--watch`: the run's own feed (its status server's `/events`), state changes only. */
async function watch(runId: string | undefined, json: boolean): Promise<number> {
  const run = selectRun(runId);
  const url = run.state.statusUrl;
  if (!url) {
    throw new ConfigError(
      `Run ${run.runId} has no status server to watch: start it with \`meshbed up --status-port 0\` (or \`network: { status_port: 0 }\` in its services.yaml, \`network.statusPort\` in code); \`meshbed status\` shows its states once`,
      { code: "E_CONFIG" },
    );
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  if (!json) console.log(`Run ${run.runId}, status page ${url} — Ctrl-C stops watching`);
  try {
    for await (const message of readServerSentEvents(`${url}events?logs=0`, stop.signal)) {
      if (message.event !== "state") continue;
      const event = JSON.parse(message.data) as WatchedEvent;
      console.log(json ? JSON.stringify({ type: "state", ...event }) : describeEvent(event));
    }
  } catch (error) {
    if (stop.signal.aborted) return 0;
    throw new HarnessError(`Run ${run.runId} does not answer at ${url} (${(error as Error).message}): it may have stopped; \`meshbed status\` lists the runs`, {
      code: "E_NOT_RUNNING",
      cause: error,
    });
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  if (!json && !stop.signal.aborted) console.log(`Run ${run.runId} has stopped.`);
  return 0;
}

interface WatchedEvent {
  service: string;
  state: string;
  addr?: string;
  current?: boolean;
  error?: { message: string; code?: string };
  exitCode?: number | null;
  exitSignal?: string | null;
}

function describeEvent(event: WatchedEvent): string {
  const time = event.current ? "now     " : new Date().toTimeString().slice(0, 8);
  const exit = event.exitSignal ? ` (${event.exitSignal})` : event.exitCode !== undefined && event.exitCode !== null ? ` (code ${event.exitCode})` : "";
  const error = event.error ? `  ${event.error.message.split("\n")[0]}` : "";
  return `${time}  ${event.service.padEnd(20)} ${`${event.state}${exit}`.padEnd(18)} ${event.addr ?? ""}${error}`.trimEnd();
}

/** The events of a server-sent-events stream (the fields `event` and `data`), until it ends. */
export async function* readServerSentEvents(url: string, signal: AbortSignal): AsyncGenerator<{ event: string; data: string }> {
  const response = await fetch(url, { signal, headers: { accept: "text/event-stream" } });
  if (!response.ok || !response.body) throw new Error(`GET ${url} answered ${response.status}`);
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of response.body) {
    buffer += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, "\n");
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line === "" || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
      }
      if (data.length > 0) yield { event, data: data.join("\n") };
    }
  }
}
