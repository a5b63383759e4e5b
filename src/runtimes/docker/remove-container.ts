import { setTimeout as sleep } from "node:timers/promises";
import type Docker from "dockerode";
import { HarnessError } from "../../errors.js";
import { engineMessage, statusOf } from "./engine.js";

/** How long a removal begun by someone else (another reaper, a killed harness's own stop) is waited for. */
const OTHER_REMOVAL_WAIT_MS = 15_000;

/**
 * Removes a container and returns once it is gone: one already gone is fine; one that something else
 * is removing at the same time (the engine answers 409 "already in progress") is waited for.
 */
export async function removeContainer(container: Docker.Container): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
    return;
  } catch (error) {
    if (statusOf(error) === 404) return;
    if (statusOf(error) !== 409 || !/in progress/i.test(engineMessage(error))) throw error;
  }
  const deadline = Date.now() + OTHER_REMOVAL_WAIT_MS;
  while (Date.now() < deadline) {
    const gone = await container.inspect().then(
      () => false,
      (error: unknown) => statusOf(error) === 404,
    );
    if (gone) return;
    await sleep(100);
  }
  throw new HarnessError(`container ${container.id}: another removal of it did not finish within ${OTHER_REMOVAL_WAIT_MS / 1000} s`, { code: "E_CLEANUP_FAILED" });
}
