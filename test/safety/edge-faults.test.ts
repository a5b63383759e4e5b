/**
 * Faults on single edges (harness.faults): a caller of a declared edge is given the address of a
 * proxy of the harness, and latency, bandwidth, timeout and reset on it are seen by real
 * connections — from a local process, a container and a LAN-node service — while the harness's
 * own connection to the target is untouched.
 */
import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Harness, type HarnessEvent } from "../../src/public/index.js";
import { busyboxImage, dockerAvailable, leftovers, testRunId } from "../support/images.js";
import { labAvailable, labForSuite, on } from "../support/lab.js";
import { fixture } from "../support/process-tracker.js";

const NODE = process.execPath;
const SERVICE = fixture("edge-service.mjs");
const ready = labAvailable() && (await dockerAvailable());

interface Timed {
  ok: boolean;
  ms: number;
  bytes?: number;
  error?: string;
}

/** A GET that `via` makes to `$variable` + `path`, timed by `via` itself. */
async function timedFrom(via: string | undefined, variable: string, path: string, timeoutMs = 30_000): Promise<Timed> {
  const response = await fetch(`http://${via}/time/${variable}${path}?timeout=${timeoutMs}`, { signal: AbortSignal.timeout(timeoutMs + 10_000) });
  return (await response.json()) as Timed;
}

/** The same from inside a container: busybox wget, timed with /proc/uptime (10 ms steps). */
function timedFromContainer(container: string, variable: string, path: string, timeoutS = 30): Promise<Timed> {
  const script = `read a _ </proc/uptime; out=$(timeout ${timeoutS} wget -q -O /tmp/body "http://$${variable}${path}" 2>&1) && r=ok || r=fail; read b _ </proc/uptime; echo "$a $b $r $(wc -c </tmp/body 2>/dev/null || echo 0) $out"`;
  return new Promise((resolve) => {
    execFile("docker", ["exec", container, "sh", "-c", script], { encoding: "utf8" }, (_error, stdout) => {
      const [a, b, r, bytes, ...rest] = stdout.trim().split(" ");
      resolve({ ok: r === "ok", ms: Math.round((Number(b) - Number(a)) * 1000), bytes: Number(bytes), ...(r !== "ok" && { error: rest.join(" ") || "failed" }) });
    });
  });
}

const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;

describe.skipIf(!ready)("faults on single edges", () => {
  const labOf = labForSuite([{ name: "e1", network: "lan" }]);
  let harness: Harness<{ db: "process"; api: "process"; box: "docker"; lan: "remote_lan" }>;
  const events: HarnessEvent[] = [];
  let runId: string;

  beforeAll(async () => {
    const image = await busyboxImage();
    runId = testRunId("ef");
    harness = (await Harness.builder({
      runId,
      faults: {
        edges: [
          ["api", "db"],
          ["lan", "db"],
          ["box", "db"],
          ["api", "box"],
        ],
      },
    })
      .process("db", { binary: NODE, args: [SERVICE], port: 0 })
      .process("api", { binary: NODE, args: [SERVICE], port: 0 })
      .docker("box", { image, port: 8080 })
      .remoteLan("lan", { ...on(labOf().node("e1")), binary: NODE, args: [SERVICE], port: 8120 })
      .start({ onEvent: (e) => events.push(e) })) as never;
  }, 180_000);
  afterAll(async () => {
    await harness?.stop();
    if (runId) expect(await leftovers(runId)).toEqual([]);
  });

  /** Each caller's request to db through its edge: the same request, timed where the caller runs. */
  const fromEachCaller = (path: string, timeoutMs = 30_000) =>
    Promise.all([
      timedFrom(harness.services.api.addr, "DB_ADDR", path, timeoutMs),
      timedFromContainer(`mb-${runId}-box`, "DB_ADDR", path, Math.ceil(timeoutMs / 1000)),
      timedFrom(harness.services.lan.addr, "DB_ADDR", path, timeoutMs),
    ]).then(([api, box, lan]) => ({ api, box, lan }));

  const typicalMs = async (path: string) => {
    const runs = [];
    for (let i = 0; i < 5; i++) runs.push(await fromEachCaller(path));
    return { api: median(runs.map((r) => r.api.ms)), box: median(runs.map((r) => r.box.ms)), lan: median(runs.map((r) => r.lan.ms)) };
  };

  it("callers of a declared edge are given its proxy; the rest, and the harness, the target itself", () => {
    const db = harness.services.db;
    for (const caller of ["api", "box", "lan"] as const) {
      expect(db.addrFor(caller)).toBe(harness.envFor(caller).DB_ADDR);
      // The proxy's port, not db's.
      expect(harness.envFor(caller).DB_PORT).not.toBe(String(db.port));
    }
    expect(harness.envFor("api").DB_ADDR).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(harness.envFor("api").DB_ADDR).not.toBe(db.addr);
    // Not declared: direct.
    expect(harness.envFor("lan").API_ADDR).toBe(harness.services.api.addrFor("lan"));
    expect(harness.envFor("lan").API_ADDR).toMatch(new RegExp(`:${harness.services.api.port}$`));
  });

  it("latency: 200 ms on each edge shows in each caller's request time (±20 %), not in the harness's own", async () => {
    const before = await typicalMs("/whoami");
    const faults = await Promise.all((["api", "box", "lan"] as const).map((from) => harness.faults.delay(from, "db", { latencyMs: 200 })));
    const during = await typicalMs("/whoami");
    for (const caller of ["api", "box", "lan"] as const) {
      const added = during[caller] - before[caller];
      expect(added, `${caller}: ${before[caller]} ms → ${during[caller]} ms`).toBeGreaterThanOrEqual(160);
      expect(added, `${caller}: ${before[caller]} ms → ${during[caller]} ms`).toBeLessThanOrEqual(240);
    }
    // The harness's own connection to db goes straight to it.
    const t0 = performance.now();
    expect(await (await fetch(`http://${harness.services.db.addr}/whoami`)).text()).toBe("db");
    expect(performance.now() - t0).toBeLessThan(150);
    // And an edge that is not faulted (api → box, proxied too) is not slowed.
    const toBox = await timedFrom(harness.services.api.addr, "BOX_ADDR", "/whoami");
    expect(toBox).toMatchObject({ ok: true });
    expect(toBox.ms).toBeLessThan(150);

    expect(harness.faults.list().map((f) => [f.from, f.to, f.toxic.type, f.stream])).toEqual([
      ["api", "db", "latency", "downstream"],
      ["box", "db", "latency", "downstream"],
      ["lan", "db", "latency", "downstream"],
    ]);
    await faults[0]!.heal();
    expect(harness.faults.list().map((f) => f.from)).toEqual(["box", "lan"]);
    await harness.faults.heal();
    expect(harness.faults.list()).toEqual([]);
    const after = await typicalMs("/whoami");
    for (const caller of ["api", "box", "lan"] as const) expect(after[caller]).toBeLessThan(before[caller] + 100);
  }, 120_000);

  it("bandwidth: 64 KiB/s bounds a 1 MiB transfer to about 16 s for each caller", async () => {
    for (const from of ["api", "box", "lan"] as const) await harness.faults.limit(from, "db", { bytesPerSecond: 64 * 1024 });
    const result = await fromEachCaller("/bytes/1048576", 40_000);
    for (const [caller, timed] of Object.entries(result)) {
      expect(timed, caller).toMatchObject({ ok: true, bytes: 1048576 });
      expect(timed.ms, caller).toBeGreaterThanOrEqual(16_000 * 0.8);
      expect(timed.ms, caller).toBeLessThanOrEqual(16_000 * 1.2);
    }
    await harness.faults.heal();
    const healed = await fromEachCaller("/bytes/1048576");
    for (const [caller, timed] of Object.entries(healed)) expect(timed.ms, caller).toBeLessThan(2_000);
  }, 120_000);

  it("timeout: callers get no answer and time out; reset: they get ECONNRESET; heal restores every edge", async () => {
    for (const from of ["api", "box", "lan"] as const) await harness.faults.timeout(from, "db");
    const timedOut = await fromEachCaller("/whoami", 1_500);
    expect(timedOut.api).toMatchObject({ ok: false, error: "timeout" });
    expect(timedOut.lan).toMatchObject({ ok: false, error: "timeout" });
    expect(timedOut.box.ok).toBe(false);
    expect(timedOut.box.ms).toBeGreaterThanOrEqual(1_000);
    await harness.faults.heal();

    for (const from of ["api", "box", "lan"] as const) await harness.faults.reset(from, "db");
    const reset = await fromEachCaller("/whoami", 5_000);
    expect(reset.api).toMatchObject({ ok: false, error: "ECONNRESET" });
    expect(reset.lan).toMatchObject({ ok: false, error: "ECONNRESET" });
    expect(reset.box).toMatchObject({ ok: false });
    expect(reset.box.error).toMatch(/reset by peer/i);
    await harness.faults.heal("box");
    const partly = await fromEachCaller("/whoami", 5_000);
    expect([partly.api.ok, partly.box.ok, partly.lan.ok]).toEqual([false, true, false]);
    await harness.faults.heal();

    const healed = await fromEachCaller("/whoami", 5_000);
    for (const [caller, timed] of Object.entries(healed)) expect(timed, caller).toMatchObject({ ok: true, bytes: 2 });
  }, 60_000);

  it("a partition stalls a proxied edge between the groups until heal()", async () => {
    await harness.partition(["api"], ["db"]);
    expect(await timedFrom(harness.services.api.addr, "DB_ADDR", "/whoami", 1_500)).toMatchObject({ ok: false, error: "timeout" });
    // Not across the partition: still through.
    expect(await timedFrom(harness.services.lan.addr, "DB_ADDR", "/whoami", 5_000)).toMatchObject({ ok: true });
    await harness.heal();
    expect(await timedFrom(harness.services.api.addr, "DB_ADDR", "/whoami", 5_000)).toMatchObject({ ok: true });
  }, 60_000);

  it("each fault and heal is an event and a line in the caller's log; bad requests are refused, naming the edge", async () => {
    const faultEvents = events.filter((e) => e.state === "fault" || e.state === "healed");
    expect(faultEvents.length).toBeGreaterThanOrEqual(2 * 12);
    expect(faultEvents[0]).toMatchObject({ service: "api", state: "fault", fault: { from: "api", to: "db", toxic: { type: "latency", latencyMs: 200 } } });
    expect(faultEvents.filter((e) => e.state === "healed").length).toBe(faultEvents.filter((e) => e.state === "fault").length);
    const lines: string[] = [];
    for await (const line of harness.services.api.logs()) lines.push(line.line);
    expect(lines).toContainEqual(expect.stringMatching(/^meshbed: fault latency \(latencyMs 200\) on api → db, downstream$/));
    expect(lines).toContainEqual(expect.stringMatching(/^meshbed: healed reset_peer/));
    expect((await harness.services.api.status()).state).toBe("healthy");

    await expect(harness.faults.delay("lan", "api", { latencyMs: 10 })).rejects.toMatchObject({
      code: "E_CONFIG",
      message: expect.stringContaining('`faults: { edges: [["lan", "api"]] }`'),
    });
    await expect(harness.faults.delay("api", "nope" as "db", { latencyMs: 10 })).rejects.toMatchObject({ code: "E_CONFIG" });
    await expect(harness.faults.delay("api", "db", { latencyMs: -5 })).rejects.toMatchObject({ code: "E_CONFIG" });
    expect(harness.faults.list()).toEqual([]);
  });
});
