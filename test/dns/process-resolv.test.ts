import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { HarnessError } from "../../src/errors.js";
import { Harness } from "../../src/public/index.js";
import { ResolvNamespace, busyboxTools, utilLinuxTools } from "../../src/runtimes/process/resolv-namespace.js";
import { RunState } from "../../src/state/run-state.js";
import { isRoot, prerequisite } from "../support/prerequisites.js";
import { alive, fixture, waitUntil } from "../support/process-tracker.js";

const ready = prerequisite("root (a local process's own /etc/resolv.conf needs a mount namespace)", isRoot(), "run the suite as root");
const NODE = process.execPath;

/** The pids of this network namespace's processes whose environment names the run. */
function processesOfRun(runId: string): number[] {
  return fs
    .readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)
    .filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/environ`, "latin1").split("\0").includes(`HARNESS_RUN_ID=${runId}`);
      } catch {
        return false;
      }
    })
    .map(Number)
    .filter(alive);
}

const mountNs = (pid: number | string) => fs.readlinkSync(`/proc/${pid}/ns/mnt`);
const resolvOf = (pid: number) => fs.readFileSync(`/proc/${pid}/root/etc/resolv.conf`, "utf8");

describe.skipIf(!ready)("names (network.dns) for a local process in its view's mount namespace", () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it("runs its health command in its cwd and its namespace: a relative path is found, a name resolves as the process resolves it", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-resolv-cwd-"));
    fs.writeFileSync(path.join(dir, "ready"), "");
    try {
      harness = await Harness.builder({ network: { dns: true } })
        .process("db", { binary: "/bin/sh", args: ["-c", "exec sleep 60"] })
        .process("api", {
          binary: "/bin/sh",
          args: ["-c", "exec sleep 60"],
          cwd: dir,
          dependsOn: ["db"],
          health: { command: ["sh", "-c", 'test -f ready && getent hosts db | grep -q "^$DB_HOST "'] },
          startTimeoutMs: 5_000,
        })
        .start();
      expect((await harness.service("api").status()).state).toBe("healthy");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("puts processes of one view in one namespace, one with a fault edge of its own in another; leaves nothing after stop", async () => {
    const hostResolv = fs.readFileSync("/etc/resolv.conf", "utf8");
    harness = await Harness.builder({ network: { dns: true }, faults: { edges: [["cli", "db"]] } })
      .process("db", { binary: process.execPath, args: [fixture("http-server.mjs")], port: 0 })
      .process("api", { binary: "/bin/sh", args: ["-c", "exec sleep 60"], dependsOn: ["db"] })
      .process("cli", { binary: "/bin/sh", args: ["-c", "exec sleep 60"], dependsOn: ["db"] })
      .start();
    const pid = async (name: "db" | "api" | "cli") => (await harness!.service(name).status()).pid!;
    const [db, api, cli] = [await pid("db"), await pid("api"), await pid("cli")];
    const dns = (name: string) => harness!.envFor(name as "db").HARNESS_DNS!.split(":")[0]!;
    expect(dns("api")).toBe(dns("db"));
    expect(dns("cli")).not.toBe(dns("db"));
    expect(mountNs(api)).toBe(mountNs(db));
    expect(mountNs(cli)).not.toBe(mountNs(db));
    expect(mountNs(db)).not.toBe(mountNs("self"));
    // The pid is the service's own: its binary runs, no wrapper between.
    expect(fs.readlinkSync(`/proc/${api}/exe`)).toMatch(/sleep$/);
    expect(resolvOf(api)).toContain(`nameserver ${dns("api")}`);
    expect(resolvOf(cli)).toContain(`nameserver ${dns("cli")}`);
    const runId = harness.runId;
    // The services and the holder of each namespace (two).
    expect(processesOfRun(runId).length).toBeGreaterThanOrEqual(5);
    await harness.stop();
    harness = undefined;
    expect(processesOfRun(runId)).toEqual([]);
    expect(fs.readFileSync("/etc/resolv.conf", "utf8")).toBe(hostResolv);
  });

  it("leaves no namespace holder behind when the harness is SIGKILLed", async () => {
    const child = spawn(NODE, ["--import", "tsx", fixture("dns-process-crash.mts")], { stdio: ["ignore", "pipe", "inherit"] });
    const [line] = (await once(child.stdout!, "data")) as [Buffer];
    const { runId, pids } = JSON.parse(line.toString()) as { runId: string; pids: Record<string, number> };
    expect(processesOfRun(runId).length).toBe(3);
    child.kill("SIGKILL");
    await once(child, "exit");
    await waitUntil(() => processesOfRun(runId).length === 0, 5_000, `the processes of run ${runId} to end`);
    expect(Object.values(pids).filter(alive)).toEqual([]);
    // What `meshbed cleanup` finds of it is only its state dir.
    fs.rmSync(path.join(os.tmpdir(), `harness-${runId}`), { recursive: true, force: true });
  });

  for (const [flavor, tools] of [
    ["busybox", busyboxTools],
    ["util-linux", utilLinuxTools],
  ] as const) {
    it(`makes and enters the namespace with ${flavor}'s tools; a failed bind is an E_DNS_PRIVILEGE naming the service`, async () => {
      expect(tools, "busybox is installed (scripts/system/setup.sh)").toBeDefined();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-resolv-ns-"));
      const state = RunState.create(path.join(dir, "run"), "rns");
      try {
        const file = path.join(dir, "resolv.conf");
        fs.writeFileSync(file, "nameserver 127.9.9.9\n");
        const ns = ResolvNamespace.open(file, { runId: "rns", services: ["api"], state, tools });
        const holder = await ns.ready();
        expect(state.resources).toContainEqual(expect.objectContaining({ kind: "process", id: String(holder) }));
        const [command, args] = await ns.enter(["/bin/sh", "-c", 'echo "$$ $(pwd)"; cat /etc/resolv.conf'], dir);
        const entered = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        entered.stdout!.on("data", (chunk: Buffer) => {
          out += chunk;
        });
        await once(entered, "close");
        expect(out).toBe(`${entered.pid} ${dir}\nnameserver 127.9.9.9\n`);
        await ns.close();
        expect(alive(holder)).toBe(false);
        expect(state.resources).toEqual([]);

        const broken = ResolvNamespace.open(path.join(dir, "missing.conf"), { runId: "rns", services: ["api"], state, tools });
        const error = await broken.ready().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(HarnessError);
        expect(error).toMatchObject({ code: "E_DNS_PRIVILEGE", service: "api" });
        expect((error as Error).message).toMatch(/Service "api" cannot resolve names.*missing\.conf.*Run the harness as root/s);
        await broken.close();
        expect(state.resources).toEqual([]);
      } finally {
        state.remove();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
