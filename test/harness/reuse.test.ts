/**
 * `reuse: true` from the library: an attached harness refuses what would change the run
 * (`E_ATTACHED`) and detaches on `stop()`; a changed topology ends the stale run and starts anew.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, expect, it } from "vitest";
import { Harness } from "../../src/public/index.js";
import { alive, fixture } from "../support/process-tracker.js";

const name = `reuse-${process.pid}`;
const owners = new Set<number>();
const runs = new Set<string>();

function ownerOf(runId: string): number {
  runs.add(runId);
  return (JSON.parse(fs.readFileSync(path.join(os.tmpdir(), `harness-${runId}`, "state.json"), "utf8")) as { pid: number }).pid;
}

afterAll(async () => {
  // As `meshbed down` does.
  for (const pid of owners) if (alive(pid)) process.kill(pid, "SIGTERM");
  for (const pid of owners) while (alive(pid)) await sleep(20);
  for (const runId of runs) fs.rmSync(path.join(os.tmpdir(), `meshbed-up-${runId}.log`), { force: true });
});

function builder(env: Record<string, string> = {}) {
  return Harness.builder({ reuse: true }).process(name, { binary: process.execPath, args: [fixture("http-server.mjs")], port: 0, env, health: { http: "/health" } });
}

it("attaches, refuses changes with E_ATTACHED, detaches on stop; a changed spec replaces the stale run", async () => {
  const first = await builder().start();
  const owner = ownerOf(first.runId);
  owners.add(owner);
  expect(first.attached).toBe(true);
  expect(owner).not.toBe(process.pid);
  const handle = first.services[name]!;
  expect((await handle.status()).state).toBe("healthy");
  const pid = (await handle.status()).pid!;
  await expect(handle.restart()).rejects.toMatchObject({ code: "E_ATTACHED", service: name });
  await expect(handle.stop()).rejects.toMatchObject({ code: "E_ATTACHED" });
  expect(() => first.faults.heal()).toThrow(expect.objectContaining({ code: "E_ATTACHED" }));
  const lines: string[] = [];
  for await (const line of handle.logs()) lines.push(line.line);
  expect(lines.join("\n")).toContain(`${name} listening on ${handle.port}`);
  await first.stop();
  // Detached: the service still answers.
  expect(await (await fetch(`http://${handle.addr}/whoami`)).text()).toBe(name);

  const again = await builder().start();
  expect(again.runId).toBe(first.runId);
  expect(again.services[name]!.addr).toBe(handle.addr);
  expect((await again.services[name]!.status()).pid).toBe(pid);
  await again.stop();

  const changed = await builder({ FLAVOUR: "new" }).start();
  owners.add(ownerOf(changed.runId));
  expect(changed.runId).not.toBe(first.runId);
  expect(changed.envFor(name).FLAVOUR).toBe("new");
  // The stale run is gone: its owner, its service and its records.
  expect(alive(owner)).toBe(false);
  expect(alive(pid)).toBe(false);
  expect(fs.existsSync(path.join(os.tmpdir(), `harness-${first.runId}`))).toBe(false);
  await changed.stop();
});
