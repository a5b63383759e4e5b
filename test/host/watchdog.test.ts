/**
 * The watchdog outlives a SIGKILLed harness process and deletes the interfaces it was told about
 * (a mesh hub: deleting it ends its wireguard-go, whose tunnels would otherwise stay alive).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isRoot, prerequisite } from "../support/prerequisites.js";

const child = path.resolve(import.meta.dirname, "../fixtures/watch-interface-child.mts");
const root = prerequisite("root (to create a network interface)", isRoot(), "run the tests as root");
const name = `mb-wd${process.pid % 100_000}`;
let started: ChildProcess | undefined;

afterEach(() => {
  started?.kill("SIGKILL");
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
