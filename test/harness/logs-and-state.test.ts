import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Harness, type LogLine } from "../../src/public/index.js";
import { ProcessTracker, stateDirOf, waitUntil } from "../support/process-tracker.js";

let t: ProcessTracker;
beforeEach(() => {
  t = new ProcessTracker();
});
afterEach(() => t.cleanup());

const mode = (file: string) => fs.statSync(file).mode & 0o777;

/** Follows a service's log in the background; `done` settles when the iteration ends. */
function follow(lines: AsyncIterable<LogLine>) {
  const seen: (LogLine & { receivedAt: number })[] = [];
  const done = (async () => {
    for await (const line of lines) seen.push({ ...line, receivedAt: Date.now() });
  })();
  return { seen, done, ticks: () => seen.filter((l) => l.line.startsWith("tick ")) };
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([promise.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
  clearTimeout(timer);
  return settled;
}

describe("logs", () => {
  it("gives the last n lines with `tail`, each with its stream and time", async () => {
    const harness = t.adopt(
      await Harness.builder()
        .process("chatty", t.node("ticker.mjs", { env: { BURST: "30", TICK_MS: "60000" }, health: { logLine: "line 30" } }))
        .start(),
    );
    const chatty = harness.services.chatty;
    await waitUntil(async () => (await countLines(chatty.logs())) >= 31, 5_000, "31 lines");
    const all: LogLine[] = [];
    for await (const line of chatty.logs()) all.push(line);
    expect(all).toHaveLength(31);
    const stdout = all.filter((l) => l.stream === "stdout").map((l) => l.line);
    expect(stdout).toEqual(Array.from({ length: 30 }, (_, i) => `line ${i + 1}`));
    expect(all.filter((l) => l.stream === "stderr").map((l) => l.line)).toEqual(["warning: this line goes to stderr"]);
    for (const line of all) {
      expect(line.service).toBe("chatty");
      expect(line.time).toBeInstanceOf(Date);
    }

    const last5: LogLine[] = [];
    for await (const line of chatty.logs({ tail: 5 })) last5.push(line);
    expect(last5).toEqual(all.slice(-5));
    const none: LogLine[] = [];
    for await (const line of chatty.logs({ tail: 0 })) none.push(line);
    expect(none).toEqual([]);
    await harness.stop();
  });

  it("follows new lines live, and ends the follow when the harness stops", async () => {
    const harness = t.adopt(
      await Harness.builder()
        .process("ticker", t.node("ticker.mjs", { env: { TICK_MS: "100" } }))
        .start(),
    );
    const followed = follow(harness.services.ticker.logs({ follow: true, tail: 0 }));
    await waitUntil(() => followed.ticks().length >= 4, 10_000, "4 ticks");
    // Each arrived when it was printed, not in one batch at the end.
    const ticks = followed.ticks();
    expect(ticks.slice(0, 4).map((l) => l.line)).toEqual(["tick 1", "tick 2", "tick 3", "tick 4"]);
    expect(ticks[3]!.receivedAt - ticks[0]!.receivedAt).toBeGreaterThanOrEqual(200);
    for (const tick of ticks) expect(tick.receivedAt - tick.time.getTime()).toBeLessThan(50);

    await harness.stop();
    expect(await settlesWithin(followed.done, 2_000)).toBe(true);
  });

  it("ends a follow when that service is stopped", async () => {
    const harness = t.adopt(
      await Harness.builder()
        .process("ticker", t.node("ticker.mjs", { env: { TICK_MS: "50" } }))
        .process("other", t.node("ticker.mjs", { env: { TICK_MS: "50" } }))
        .start(),
    );
    const followed = follow(harness.services.ticker.logs({ follow: true }));
    await waitUntil(() => followed.ticks().length >= 2, 10_000, "2 ticks");
    await harness.services.ticker.stop();
    expect(await settlesWithin(followed.done, 2_000)).toBe(true);
    // The other service's follow goes on.
    const other = follow(harness.services.other.logs({ follow: true, tail: 0 }));
    await waitUntil(() => other.ticks().length >= 2, 10_000, "2 ticks of the other service");
    await harness.stop();
    expect(await settlesWithin(other.done, 2_000)).toBe(true);
  });

  it("ends a follow when the service exits on its own, and does not start one on a stopped service", async () => {
    const harness = t.adopt(
      await Harness.builder()
        .process("short", t.node("late-ready.mjs", { env: { READY_DELAY_MS: "5000" } }))
        .process("ticker", t.node("ticker.mjs", { env: { TICK_MS: "50" } }))
        .start(),
    );
    const followed = follow(harness.services.ticker.logs({ follow: true }));
    await waitUntil(() => followed.ticks().length >= 2, 10_000, "2 ticks");
    process.kill((await harness.services.ticker.status()).pid!, "SIGKILL");
    expect(await settlesWithin(followed.done, 2_000)).toBe(true);
    expect((await harness.services.ticker.status()).state).toBe("exited");
    // Following a service that is over yields what was kept, then ends.
    const after = follow(harness.services.ticker.logs({ follow: true }));
    expect(await settlesWithin(after.done, 1_000)).toBe(true);
    expect(after.ticks().length).toBeGreaterThanOrEqual(2);

    await harness.services.short.stop();
    const stopped = follow(harness.services.short.logs({ follow: true }));
    expect(await settlesWithin(stopped.done, 1_000)).toBe(true);
    expect(stopped.seen.map((l) => l.line)).toEqual(["warming up"]);
    await harness.stop();
  });

  it("keeps a follow going across a restart", async () => {
    const harness = t.adopt(
      await Harness.builder()
        .process("ticker", t.node("ticker.mjs", { env: { TICK_MS: "50" }, health: { logLine: "tick 1" } }))
        .start(),
    );
    const followed = follow(harness.services.ticker.logs({ follow: true, tail: 0 }));
    await waitUntil(() => followed.ticks().length >= 2, 10_000, "2 ticks");
    await harness.services.ticker.restart();
    const before = followed.seen.length;
    await waitUntil(() => followed.seen.length >= before + 2, 10_000, "lines of the second start");
    // The second start counts from 1 again, in the same follow.
    const numbers = followed.ticks().map((l) => Number(l.line.slice("tick ".length)));
    expect(numbers.some((n, i) => i > 0 && n < numbers[i - 1]!)).toBe(true);
    await harness.stop();
    expect(await settlesWithin(followed.done, 2_000)).toBe(true);
  });

  it("ends a follow on its signal, and when the loop breaks", async () => {
    const harness = t.adopt(
      await Harness.builder()
        .process("ticker", t.node("ticker.mjs", { env: { TICK_MS: "50" } }))
        .start(),
    );
    const abort = new AbortController();
    const followed = follow(harness.services.ticker.logs({ follow: true, signal: abort.signal }));
    await waitUntil(() => followed.ticks().length >= 2, 10_000, "2 ticks");
    abort.abort();
    expect(await settlesWithin(followed.done, 1_000)).toBe(true);

    let n = 0;
    for await (const line of harness.services.ticker.logs({ follow: true, tail: 0 })) {
      expect(line.line).toMatch(/^tick \d+$/);
      if (++n === 2) break;
    }
    expect(n).toBe(2);
    await harness.stop();
  });

  it("writes every line to /tmp/harness-<runId>/<service>/service.log", async () => {
    const harness = t.adopt(
      await Harness.builder()
        .process("chatty", t.node("ticker.mjs", { env: { BURST: "3", TICK_MS: "60000" }, health: { logLine: "line 3" } }))
        .start(),
    );
    const file = path.join("/tmp", `harness-${harness.runId}`, "chatty", "service.log");
    await waitUntil(() => fs.existsSync(file) && fs.readFileSync(file, "utf8").split("\n").length >= 5, 5_000, "4 lines in the log file");
    const lines = fs.readFileSync(file, "utf8").split("\n");
    expect(lines.filter((l) => l.startsWith("line "))).toEqual(["line 1", "line 2", "line 3"]);
    expect(lines).toContain("warning: this line goes to stderr");
    expect(mode(file)).toBe(0o600);
    await harness.stop();
  });
});

describe("the state dir and env files", () => {
  it("writes each env file 0600 in a 0700 run dir, in a form that `sh` sources", async () => {
    const tricky = 'it\'s "quoted" $HOME `id` \\ and\na second line';
    const harness = t.adopt(
      await Harness.builder()
        .process("db", t.node("http-server.mjs", { port: 0 }))
        .process("api", t.node("http-server.mjs", { port: 0, env: { TRICKY: tricky, DB_URL: "postgres://${DB_ADDR}/app" } }))
        .start(),
    );
    const runDir = stateDirOf(harness.runId);
    expect(runDir).toBe(`/tmp/harness-${harness.runId}`);
    expect(mode(runDir)).toBe(0o700);
    const { api, db } = harness.services;
    expect(api.envFile).toBe(path.join(runDir, "api", "service.env"));
    expect(mode(path.dirname(api.envFile))).toBe(0o700);
    for (const handle of [api, db]) expect(mode(handle.envFile)).toBe(0o600);

    const sourced = (file: string, script: string) => execFileSync("sh", ["-c", `. "$1"; ${script}`, "sh", file], { encoding: "utf8", env: {} });
    expect(sourced(api.envFile, 'echo "$DB_ADDR"')).toBe(`${db.addr}\n`);
    expect(sourced(db.envFile, 'echo "$API_ADDR $API_HOST $API_PORT"')).toBe(`${api.addr} 127.0.0.1 ${api.port}\n`);
    expect(sourced(api.envFile, 'printf %s "$TRICKY"')).toBe(tricky);
    expect(sourced(api.envFile, 'echo "$DB_URL $HARNESS_SERVICE $HARNESS_ENV_FILE"')).toBe(`postgres://${db.addr}/app api ${api.envFile}\n`);

    // The service itself was given the same values, and where its file is.
    const response = await fetch(`http://${api.addr}/env`);
    const env = (await response.json()) as Record<string, string>;
    expect(env).toMatchObject({ TRICKY: tricky, DB_ADDR: db.addr, HARNESS_ENV_FILE: api.envFile, HARNESS_RUN_ID: harness.runId });

    const state = JSON.parse(fs.readFileSync(path.join(runDir, "state.json"), "utf8")) as { pid: number; resources: { kind: string; service: string; id: string }[] };
    expect(state.pid).toBe(process.pid);
    expect(state.resources.map((r) => [r.kind, r.service, Number(r.id)]).sort()).toEqual(
      [
        ["process", "api", (await api.status()).pid],
        ["process", "db", (await db.status()).pid],
      ].sort(),
    );
    await harness.stop();
    expect(fs.existsSync(runDir)).toBe(false);
  });

  it("uses the `stateDir` option instead of /tmp/harness-<runId>", async () => {
    const stateDir = path.join(t.dir, "state");
    const harness = t.adopt(
      await Harness.builder({ stateDir })
        .process("db", t.node("http-server.mjs", { port: 0 }))
        .start(),
    );
    expect(harness.services.db.envFile).toBe(path.join(stateDir, "db", "service.env"));
    expect(mode(stateDir)).toBe(0o700);
    expect(fs.existsSync(stateDirOf(harness.runId))).toBe(false);
    await harness.stop();
    expect(fs.existsSync(stateDir)).toBe(false);
  });
});

/** How many lines a handle has kept so far. */
async function countLines(lines: AsyncIterable<LogLine>): Promise<number> {
  let count = 0;
  for await (const _ of lines) count++;
  return count;
}
