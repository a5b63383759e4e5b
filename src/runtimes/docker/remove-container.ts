import { setTimeout as sleep } from "node:timers/promises";
import type Docker from "dockerode";
import { HarnessError } from "../../errors.js";

/** How long a removal that another reaper began (every harness start reaps crashed runs too) is waited for. */
const OTHER_REMOVAL_WAIT_MS = 15_000;

/**
 * Removes a container; one already gone, or being removed by another reaper at the same time (the
 * engine answers 409 "already in progress"), is waited for until it is gone, not reported.
 */
export async function removeContainer(container: Docker.Container): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
    return;
  } catch (error) {
    const status = (error as { statusCode?: number }).statusCode;
    if (status === 404) return;
    if (status !== 409 || !/in progress/i.test((error as Error).message)) throw error;
  }
  const deadline = Date.now() + OTHER_REMOVAL_WAIT_MS;
  while (Date.now() < deadline) {
    const gone = await container.inspect().then(
      () => false,
      (error: { statusCode?: number }) => error.statusCode === 404,
    );
    if (gone) return;
    await sleep(100);
  }
  throw new HarnessError(`container ${container.id}: another removal of it did not finish within ${OTHER_REMOVAL_WAIT_MS / 1000} s`, { code: "E_CLEANUP_FAILED" });
}
