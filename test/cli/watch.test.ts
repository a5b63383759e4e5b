/**
 * `meshbed up --watch`: a rebuilt binary restarts its service (same address) within 300 ms of the
 * change, a service that names it in `restart_with` restarts after it, and the others keep their pids.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, expect, it } from "vitest";
import { hasCommand, prerequisite } from "../support/prerequisites.js";
import { REPO, alive } from "../support/process-tracker.js";

const CLI = path.join(REPO, "dist/cli.js");
const runId = `watch-${process.pid % 100000}`;
const runDir = path.join(os.tmpdir(), `harness-${runId}`);
let dir: string;
let up: ChildProcess | undefined;
let output = "";
const ready = prerequisite("busybox", hasCommand("busybox"), "Install busybox-static (bash scripts/system/setup.sh)");

/** What a compiler does: a new file renamed over the old one. */
function build(version: string): void {
  fs.writeFileSync(path.join(dir, "app.tmp"), `#!/bin/sh\nexec busybox httpd -f -p "127.0.0.1:$PORT" -h ${version}\n`, { mode: 0o755 });
  fs.renameSync(path.join(dir, "app.tmp"), path.join(dir, "app"));
}

beforeAll(async () => {
  if (!ready) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-watch-"));
  for (const v of ["v1", "v2", "www"]) {
    fs.mkdirSync(path.join(dir, v));
    fs.writeFileSync(path.join(dir, v, "index.html"), v);
  }
  build("v1");
  const httpd = `{ process: { binary: busybox, args: [httpd, -f, -p, "127.0.0.1:\${PORT}", -h, www] } }`;
  fs.writeFileSync(
    path.join(dir, "services.yaml"),
    `services:\n  app:\n    target: { process: { binary: ./app } }\n    port: 0\n  other:\n    target: ${httpd}\n    port: 0\n  client:\n    target: ${httpd}\n    port: 0\n    restart_with: [app]\n`,
  );
  up = spawn(process.execPath, [CLI, "up", "-f", "services.yaml", "--watch", "--run-id", runId], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  up.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  up.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  while (!output.includes("services are healthy")) {
    if (up.exitCode !== null) throw new Error(`meshbed up exited ${up.exitCode}:\n${output}`);
    await sleep(20);
  }
}, 60_000);

afterAll(async () => {
  if (up && up.exitCode === null) {
    up.kill("SIGTERM");
    while (up.exitCode === null) await sleep(20);
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  expect(fs.existsSync(runDir)).toBe(false);
});

function pids(): Record<string, number> {
  const state = JSON.parse(fs.readFileSync(path.join(runDir, "state.json"), "utf8")) as { resources: { kind: string; service?: string; id: string }[] };
  return Object.fromEntries(state.resources.filter((r) => r.kind === "process").map((r) => [r.service!, Number(r.id)]));
}

async function answer(addr: string): Promise<string> {
  try {
    return await (await fetch(`http://${addr}/`, { signal: AbortSignal.timeout(1000) })).text();
  } catch {
    return "";
  }
}

it.runIf(ready)("restarts a rebuilt service within 300 ms at the same address; restart_with follows; the others keep their pids", async () => {
  const descriptor = JSON.parse(fs.readFileSync(path.join(runDir, "descriptor.json"), "utf8")) as { services: Record<string, { addr: string }> };
  const addr = descriptor.services.app!.addr;
  expect(await answer(addr)).toBe("v1");
  const before = pids();

  const changed = performance.now();
  build("v2");
  while ((await answer(addr)) !== "v2") {
    expect(performance.now() - changed, `no new answer yet:\n${output}`).toBeLessThan(5000);
    await sleep(5);
  }
  const ms = performance.now() - changed;
  expect(ms).toBeLessThanOrEqual(300);

  while (!output.includes("client restarted")) await sleep(10);
  expect(output).toMatch(/\[watch\] \d\d:\d\d:\d\d\.\d{3} app restarted in \d+ ms \(app changed\)/);
  expect(output).toMatch(/\[watch\] .* client restarted in \d+ ms \(with app\)/);
  const after = pids();
  expect(after.other).toBe(before.other);
  expect(after.app).not.toBe(before.app);
  expect(after.client).not.toBe(before.client);
  expect(alive(before.app!)).toBe(false);
  expect(await answer(descriptor.services.client!.addr)).toBe("www");
  console.log(`watch: new answer ${Math.round(ms)} ms after the rebuild`);
});
