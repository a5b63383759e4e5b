import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { detachedLogFile } from "../harness/reuse.js";
import { newRunId } from "../harness/run-id.js";

export { detachedLogFile };

/**
 * `up --detach`: runs `meshbed up` again in the background as the run's owner, and returns once
 * every service is healthy (its descriptor is written) or the background `up` has failed.
 */
export async function upDetached(file: string, givenRunId?: string, extraArgs: readonly string[] = []): Promise<{ runId: string; ok: boolean; log: string }> {
  const runId = givenRunId ?? newRunId();
  const log = detachedLogFile(runId);
  const out = fs.openSync(log, "a", 0o600);
  const cli = process.argv[1]!;
  const child = spawn(process.execPath, [cli, "up", "-f", file, "--run-id", runId, ...extraArgs], { detached: true, stdio: ["ignore", out, out] });
  fs.closeSync(out);
  let exited = false;
  child.once("exit", () => (exited = true));
  const ready = path.join(os.tmpdir(), `harness-${runId}`, "descriptor.json");
  while (!exited && !fs.existsSync(ready)) await sleep(25);
  child.unref();
  return { runId, ok: !exited, log };
}
