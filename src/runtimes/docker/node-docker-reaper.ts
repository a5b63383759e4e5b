import { setTimeout as sleep } from "node:timers/promises";
import type Docker from "dockerode";
import { HarnessError } from "../../errors.js";
import { isUnroutedPoolAddress } from "../../host/routes.js";
import type { RemoteResourceNode } from "../../ssh/node-record.js";
import { resolveDestination } from "../../ssh/ssh-destination.js";
import { SshPool } from "../../ssh/ssh-pool.js";
import type { FamilyReaper } from "../../state/reap.js";
import type { Resource } from "../../state/run-state.js";
import type { RunRecord } from "../../state/runs.js";

/**
 * What a crashed run left on nodes' engines (`nodedocker-*` resources): every container of the run
 * (found by its label, so that one made just before the crash is found too) and the images it
 * placed there. One SSH connection per node, closed at the end. No `killNow`: the exit event cannot
 * wait for SSH; the reaper of the next start (or `meshbed cleanup`) does it.
 */
export const nodeDockerReaper: FamilyReaper = {
  reap: (run, resources) => reapNodeDocker(run, resources),
};

export async function reapNodeDocker(run: RunRecord, resources: readonly Resource[]): Promise<void> {
  // dockerode is loaded only when there is something to reap.
  const { connectNodeEngine } = await import("./node-engine.js");
  const { removeImage } = await import("./images.js");
  const { RUN_LABEL } = await import("./run-network.js");
  const byNode = new Map<string, { node: RemoteResourceNode; images: string[] }>();
  const errors: string[] = [];
  for (const resource of resources) {
    const node = resource.node as RemoteResourceNode | undefined;
    if (!node) {
      errors.push(`${resource.kind} ${resource.id}: no node recorded`);
      continue;
    }
    const key = JSON.stringify([node.host, node.user, node.ssh.port]);
    const entry = byNode.get(key) ?? { node, images: [] };
    if (resource.kind === "nodedocker-image" && typeof resource.ref === "string") entry.images.push(resource.ref);
    byNode.set(key, entry);
  }
  const pool = new SshPool();
  for (const { node, images } of byNode.values()) {
    // A node that vanished with its lab: nothing left to undo, and nothing may be sent to it.
    if (await isUnroutedPoolAddress(node.host)) continue;
    const connection = pool.acquire(resolveDestination(node.host, node.user, node.ssh));
    try {
      // SSH first: a login that fails is reported as such, not as a missing engine.
      await connection.connect();
      const { docker } = await connectNodeEngine(connection, []);
      for (const info of await docker.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${run.runId}`] } })) {
        await removeContainer(docker.getContainer(info.Id));
      }
      for (const ref of images) await removeImage(docker, ref);
    } catch (error) {
      errors.push(`node ${connection.label}: ${(error as Error).message}`);
    } finally {
      await pool.release(connection);
    }
  }
  if (errors.length > 0) throw new HarnessError(errors.join("; "), { code: "E_CLEANUP_FAILED" });
}

/** How long a removal that another reaper began (every harness start reaps crashed runs too) is waited for. */
const OTHER_REMOVAL_WAIT_MS = 15_000;

/**
 * Removes a container; one already gone, or being removed by another reaper at the same time (the
 * engine answers 409 "already in progress"), is waited for until it is gone, not reported.
 */
async function removeContainer(container: Docker.Container): Promise<void> {
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
