import { spawn } from "node:child_process";
import dgram from "node:dgram";
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { Harness, HarnessError } from "../../src/public/index.js";
import { reapOrphans } from "../../src/runtimes/reapers.js";
import { listRuns } from "../../src/state/runs.js";
import { freePort } from "../../src/host/ports.js";
import { extraProcesses, labAvailable, labForSuite, on, waitFor } from "../support/lab.js";
import { fixture } from "../support/process-tracker.js";

const NODE = process.execPath;
const TICKER = fixture("ticker.mjs");
const ready = labAvailable();

async function startError(start: Promise<Harness>): Promise<HarnessError> {
  const error = await start.then(
    async (h) => {
      await h.stop();
      return new Error("started");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HarnessError);
  return error as HarnessError;
}

describe.skipIf(!ready)("names (network.dns) on nodes: strangers, bad input, a crashed run's resolvers", () => {
  const labOf = labForSuite([
    { name: "n1", network: "lan" },
    { name: "n2", network: "lan" },
    { name: "n3", network: "lan", user: "mbdnsuser", sudo: false },
  ]);
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it("refuses a query from an address that is no service of the run; a SIGKILLed run's node resolver is put back by the reaper (meshbed cleanup)", async () => {
    const n1 = labOf().node("n1");
    const before = (await labOf().exec("n1", ["cat", "/etc/resolv.conf"])).stdout;
    const hostResolv = fs.readFileSync("/etc/resolv.conf", "utf8");
    const child = spawn(NODE, ["--import", "tsx", fixture("dns-crash.mts")], { env: { ...process.env, LAB_NODE: JSON.stringify(on(n1)) }, stdio: ["ignore", "pipe", "inherit"] });
    const { runId, dns } = await new Promise<{ runId: string; dns: string }>((resolve, reject) => {
      child.stdout.once("data", (d: Buffer) => resolve(JSON.parse(d.toString()) as { runId: string; dns: string }));
      child.once("exit", (code) => reject(new Error(`the crashing child exited early (${code})`)));
    });
    const server = dns.split(":")[0]!;
    // The run's node asks by name; n2, on the same LAN but not in the run, is refused.
    expect((await labOf().exec("n1", ["getent", "hosts", "orphan"])).stdout.trim()).toMatch(new RegExp(`^${n1.host.replace(/\./g, "\\.")}\\s+orphan`));
    const stranger = await labOf().exec("n2", ["busybox", "nslookup", "orphan", server]);
    expect(`${stranger.stdout}${stranger.stderr}`).toMatch(/REFUSED/);

    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    expect((await labOf().exec("n1", ["cat", "/etc/resolv.conf"])).stdout).toContain(`nameserver ${server}`);
    const run = listRuns().find((r) => r.runId === runId)!;
    expect(run.state.resources.map((r) => r.kind)).toContain("remote-resolver");
    // What `meshbed cleanup` runs, for this run only (other runs on this machine are not this test's).
    const [report] = await reapOrphans([run]);
    expect(report!.failed).toEqual([]);
    expect((await labOf().exec("n1", ["cat", "/etc/resolv.conf"])).stdout).toBe(before);
    await waitFor("the orphan to be gone", async () => !(await extraProcesses(labOf(), "n1")).some((p) => p.args.includes(TICKER)));
    expect(fs.readFileSync("/etc/resolv.conf", "utf8")).toBe(hostResolv);
  }, 120_000);

  it("refuses `dns: true` on a node whose user may not change its resolver, before anything starts", async () => {
    const n3 = labOf().node("n3");
    const before = (await labOf().exec("n3", ["cat", "/etc/resolv.conf"])).stdout;
    const error = await startError(
      Harness.builder({ network: { dns: true } })
        .remoteLan("edge", { ...on(n3), dns: true, binary: NODE, args: [TICKER], health: { logLine: "tick 1" } })
        .start(),
    );
    expect(error.code).toBe("E_DNS_PRIVILEGE");
    expect(error.service).toBe("edge");
    expect(error.message).toMatch(/`dns: true`.*does not let meshbed change its \/etc\/resolv\.conf.*passwordless sudo.*or drop `dns`/);
    expect((await labOf().exec("n3", ["cat", "/etc/resolv.conf"])).stdout).toBe(before);
    expect(await extraProcesses(labOf(), "n3")).toEqual([]);
  });

  it("refuses a taken `network.dnsPort` and a service name that is no DNS label, each naming what to change", async () => {
    const port = await freePort();
    const holder = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => holder.bind(port, "0.0.0.0", resolve));
    try {
      const taken = await startError(
        Harness.builder({ network: { dns: true, dnsPort: port } })
          .process("api", { binary: NODE, args: [TICKER], health: { logLine: "tick 1" } })
          .start(),
      );
      expect(taken.code).toBe("E_PORT_IN_USE");
      expect(taken.message).toContain(`DNS port ${port} is taken`);
      expect(taken.message).toContain("`network.dnsPort`");
    } finally {
      holder.close();
    }
    const label = await startError(
      Harness.builder({ network: { dns: true } })
        .process("my_api", { binary: NODE, args: [TICKER], health: { logLine: "tick 1" } })
        .start(),
    );
    expect(label.code).toBe("E_CONFIG");
    expect(label.service).toBe("my_api");
    expect(label.message).toMatch(/not a DNS label.*rename it, or leave `network.dns` off/);
  });
});
