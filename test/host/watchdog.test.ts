/**
 * The watchdog outlives a SIGKILLed harness process and deletes the interfaces it was told about
 * (a mesh hub: deleting it ends its wireguard-go, whose tunnels would otherwise stay alive), and
 * ends the processes of the runs it was told about, also those whose group it never heard of.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isRoot, prerequisite } from "../support/prerequisites.js";

const child = path.resolve(import.meta.dirname, "../fixtures/watch-interface-child.mts");
const runChild = path.resolve(import.meta.dirname, "../fixtures/watch-run-child.mts");
const others: number[] = [];

/** Alive and not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return false;
  }
}
const root = prerequisite("root (to create a network interface)", isRoot(), "run the tests as root");
const name = `mb-wd${process.pid % 100_000}`;
let started: ChildProcess | undefined;

afterEach(() => {
  started?.kill("SIGKILL");
  for (const pid of others.splice(0)) if (alive(pid)) process.kill(pid, "SIGKILL");
  if (fs.existsSync(`/sys/class/net/${name}`)) execFileSync("ip", ["link", "del", name]);
});

describe.skipIf(!root)("the watchdog and interfaces", () => {
  it("deletes a watched interface within a second of the harness process's SIGKILL", async () => {
    execFileSync("ip", ["link", "add", name, "type", "veth", "peer", "name", `${name}p`]);
    started = spawn(process.execPath, ["--import", "tsx", child], { env: { ...process.env, IFNAME: name }, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    started.stdout!.on("data", (d: Buffer) => (out += d));
    await expect.poll(() => out, { timeout: 20_000, interval: 25 }).toContain("watching");
    expect(fs.existsSync(`/sys/class/net/${name}`)).toBe(true);
    started.kill("SIGKILL");
    await expect.poll(() => fs.existsSync(`/sys/class/net/${name}`), { timeout: 1_500, interval: 25 }).toBe(false);
  });
});

describe("the watchdog and runs", () => {
  it("ends a watched run's processes by their HARNESS_RUN_ID, groups it never heard of included; not a forgotten run's, not another's", async () => {
    started = spawn(process.execPath, ["--import", "tsx", runChild], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    started.stdout!.on("data", (d: Buffer) => (out += d));
    await expect.poll(() => out, { timeout: 20_000, interval: 25 }).toContain("}");
    const pids = JSON.parse(out) as Record<"wa" | "wb" | "wc", number>;
    others.push(pids.wa, pids.wb, pids.wc);
    expect([pids.wa, pids.wb, pids.wc].map(alive)).toEqual([true, true, true]);
    started.kill("SIGKILL");
    // SIGTERM is ignored; the SIGKILL a second later ends it.
    await expect.poll(() => alive(pids.wa), { timeout: 3_000, interval: 25 }).toBe(false);
    expect([alive(pids.wb), alive(pids.wc)]).toEqual([true, true]);
  });
});
