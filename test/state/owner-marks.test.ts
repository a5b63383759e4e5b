/**
 * The cheap marker: a start reads no run's state unless an owner's mark outlived its process. A
 * harness process killed by SIGKILL leaves its mark; the next start reaps its run and clears it.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { expect, it } from "vitest";
import { Harness } from "../../src/public/index.js";
import { clearMarks, deadOwnerMarks } from "../../src/state/owner-marks.js";
import { fixture } from "../support/process-tracker.js";

it("a crashed owner's mark makes the next start reap its run, then it is cleared", async () => {
  const runId = `mark-${process.pid % 100000}`;
  const child = spawn(process.execPath, ["--import", "tsx", fixture("owner-mark-child.mts")], { env: { ...process.env, RUN_ID: runId }, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  while (!out.includes(`started ${runId}`)) {
    expect(child.exitCode).toBeNull();
    await sleep(20);
  }
  const mark = path.join(os.tmpdir(), "meshbed-owners", fs.readdirSync(path.join(os.tmpdir(), "meshbed-owners")).find((n) => n.startsWith(`${child.pid}-`))!);
  expect(fs.existsSync(mark)).toBe(true);
  child.kill("SIGKILL");
  await new Promise((resolve) => child.once("exit", resolve));
  expect(deadOwnerMarks()).toContain(mark);

  const runDir = path.join(os.tmpdir(), `harness-${runId}`);
  expect(fs.existsSync(runDir)).toBe(true);
  const harness = await Harness.builder()
    .process("other", { binary: process.execPath, args: [fixture("http-server.mjs")], port: 0 })
    .start();
  await harness.stop();
  for (let i = 0; i < 200 && (fs.existsSync(runDir) || fs.existsSync(mark)); i++) await sleep(25);
  expect(fs.existsSync(runDir)).toBe(false);
  expect(fs.existsSync(mark)).toBe(false);
});

it("a crashed owner's mark whose run could not be reaped is put off: starts skip it until then, cleanup does not", async () => {
  // A pid that is gone: a child that has exited.
  const child = spawn("/bin/true");
  await new Promise((resolve) => child.once("exit", resolve));
  const mark = path.join(os.tmpdir(), "meshbed-owners", `${child.pid}-1`);
  fs.mkdirSync(path.dirname(mark), { recursive: true });
  fs.writeFileSync(mark, "");
  try {
    expect(deadOwnerMarks()).toContain(mark);
    // Its run is still on disk after the scan: put off by a minute.
    clearMarks([mark], [{ state: { pid: child.pid! } }], 60_000);
    expect(fs.existsSync(mark)).toBe(true);
    expect(deadOwnerMarks()).not.toContain(mark);
    expect(deadOwnerMarks({ deferred: true })).toContain(mark);
    // Reaped at last (by cleanup): cleared.
    clearMarks([mark], []);
    expect(fs.existsSync(mark)).toBe(false);
  } finally {
    fs.rmSync(mark, { force: true });
  }
});
