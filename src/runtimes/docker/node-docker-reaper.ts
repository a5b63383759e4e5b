import { HarnessError } from "../../errors.js";
import { isUnroutedPoolAddress } from "../../host/routes.js";
import type { RemoteResourceNode } from "../../ssh/node-record.js";
import { resolveDestination } from "../../ssh/ssh-destination.js";
import { SshPool } from "../../ssh/ssh-pool.js";
import type { FamilyReaper } from "../../state/reap.js";
import type { Resource } from "../../state/run-state.js";
import type { RunRecord } from "../../state/runs.js";
import { removeContainer } from "./remove-container.js";

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
