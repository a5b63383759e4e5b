/**
 * Local processes at growing scale: 1, 10 and 50 busybox httpd services (each ready at once, no
 * dependencies). In one run of each side: start to all healthy, a restart of one service, and stop.
 * Sides: meshbed; a bare `spawn` + the same TCP probe; the same services as containers started by
 * meshbed; for 10 and 50, meshbed starting one of them alone.
 * Targets: 50 processes all healthy in ≤ 1.5 × the time of one alone; restart of a process ≥ 10 ×
 * faster than restart of the same service as a container (ratio ≤ 0.1); the harness's own cost
 * (issue 15): one service started ≤ 1.3 × and stopped ≤ 3 × a bare spawn + probe, 50 ≤ 1.2 ×.
 * The start target is also measured where it means most: 50 services that each become ready 500 ms
 * after they start (a shell sleeps, then runs the same httpd), against one of them alone.
 */
import type { Harness } from "../../src/public/index.js";
import { busyboxImage } from "../../test/support/images.js";
import { type ComparisonRow, type Side, benchRuns, compare } from "../compare.js";
import { quiet } from "../quiet.js";
import { BareProcess, startContainers, startProcesses, startSlowProcesses } from "../topologies.js";

/** Times start, restart of the first service, and stop of a meshbed topology. */
async function measured(start: () => Promise<Harness>): Promise<Record<string, number>> {
  let t = performance.now();
  const harness = await start();
  const started = performance.now() - t;
  t = performance.now();
  await harness.service("s0").restart();
  const restart = performance.now() - t;
  t = performance.now();
  await harness.stop();
  return { start: started, restart, stop: performance.now() - t };
}

function bare(n: number): Side {
  return {
    async run() {
      let t = performance.now();
      const services = Array.from({ length: n }, () => new BareProcess());
      await Promise.all(services.map((s) => s.start()));
      const started = performance.now() - t;
      t = performance.now();
      await services[0]!.stop();
      await services[0]!.start();
      const restart = performance.now() - t;
      t = performance.now();
      await Promise.all(services.map((s) => s.stop()));
      return { start: started, restart, stop: performance.now() - t };
    },
  };
}

/** Issue 15's: one service ≤ 1.3 × bare spawn + probe, 50 ≤ 1.2 × bare; and 50 ≤ 1.5 × one of them alone. */
function startTargets(n: number): Record<string, string> | undefined {
  if (n === 1) return { "bare spawn": "<=1.3" };
  if (n === 50) return { "one alone": "<=1.5", "bare spawn": "<=1.2" };
  return undefined;
}

export async function run(): Promise<ComparisonRow[]> {
  const image = await busyboxImage();
  const rows: ComparisonRow[] = [];
  for (const n of [1, 10, 50]) {
    const label = n === 1 ? "1 process" : `${n} processes`;
    const sides: Record<string, Side> = {
      meshbed: { run: () => measured(() => startProcesses(n)) },
      "bare spawn": bare(n),
      containers: { run: () => measured(() => startContainers(n, image)) },
    };
    if (n > 1) {
      sides["one alone"] = {
        async run() {
          const t = performance.now();
          const harness = await startProcesses(1);
          const ms = performance.now() - t;
          await harness.stop();
          return { start: ms };
        },
      };
    }
    const result = await compare({
      figure: label,
      baseline: "meshbed",
      services: n,
      runs: benchRuns(n >= 50 ? 5 : 7),
      // Each side on a quiet machine: the containers side's engine would still be cleaning up during the next side's run.
      between: quiet,
      sides,
      notes: {
        meshbed: "busybox httpd as local processes, port 0, TCP readiness",
        "bare spawn": "spawn + the same TCP probe, all in parallel",
        containers: "the same services as busybox httpd containers, started by meshbed",
        "one alone": "meshbed starting one of them alone",
      },
      measures: {
        start: { figure: `${label}: start to all healthy`, chart: "processes", targets: startTargets(n) },
        restart: { figure: `${label}: restart of one service`, targets: { containers: "<=0.1" } },
        stop: { figure: `${label}: stop`, ...(n === 1 && { targets: { "bare spawn": "<=3" } }) },
      },
    });
    // One alone is not a point of the start-vs-services lines.
    for (const row of result) if (row.side === "one alone") delete row.series;
    rows.push(...result);
  }

  // The same target where it means most: services that take a while to be ready, started in parallel.
  const SLOW_MS = 500;
  const timed = async (start: () => Promise<Harness>) => {
    const t = performance.now();
    const harness = await start();
    const ms = performance.now() - t;
    await harness.stop();
    return ms;
  };
  rows.push(
    ...(await compare({
      figure: `50 processes, each ready ${SLOW_MS} ms after it starts: start to all healthy`,
      baseline: "one alone",
      runs: benchRuns(5),
      targets: { "one alone": "<=1.5" },
      sides: {
        meshbed: { run: () => timed(() => startSlowProcesses(50, SLOW_MS)) },
        "one alone": { run: () => timed(() => startSlowProcesses(1, SLOW_MS)) },
        "bare spawn": {
          async run() {
            const t = performance.now();
            const services = Array.from({ length: 50 }, () => new BareProcess(SLOW_MS));
            await Promise.all(services.map((s) => s.start()));
            const ms = performance.now() - t;
            await Promise.all(services.map((s) => s.stop()));
            return ms;
          },
        },
      },
      notes: {
        meshbed: `sh -c "sleep ${SLOW_MS / 1000}; exec busybox httpd …", port 0, TCP readiness`,
        "one alone": "meshbed starting one of them alone",
        "bare spawn": "the same 50, spawned and probed in parallel",
      },
    })),
  );
  return rows;
}
