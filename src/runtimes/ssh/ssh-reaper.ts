import type { Resource } from "../../state/run-state.js";
import { isUnroutedPoolAddress } from "../../host/routes.js";
import type { RunRecord } from "../../state/runs.js";
import { abandonRunCommand, reapProcessCommand, removeDirCommand } from "./remote-script.js";
import type { RemoteResourceNode } from "../../ssh/node-record.js";
import { resolveDestination } from "../../ssh/ssh-destination.js";
import { SshPool } from "../../ssh/ssh-pool.js";
import { HarnessError } from "../../errors.js";
import { RESOLVER_KIND, restoreResolverCommand } from "./node-resolver.js";

/**
 * Undoes what a crashed run left on its nodes: kills each remote service's process group (only if
 * its dir still names that group, so that a reused number is left alone), then removes its dir
 * (only if it is still that run's), and puts back a resolver the run pointed at its DNS server.
 * One connection per node, closed at the end.
 */
export async function reapRemote(run: RunRecord, resources: readonly Resource[]): Promise<void> {
  const pool = new SshPool();
  const errors: string[] = [];
  try {
    for (const resource of resources) {
      const node = resource.node as RemoteResourceNode | undefined;
      if (!node) {
        errors.push(`${resource.kind} ${resource.id}: no node recorded`);
        continue;
      }
      // A node that vanished with its lab: nothing left to undo, and nothing may be sent to it.
      if (await isUnroutedPoolAddress(node.host)) continue;
      const connection = pool.acquire(resolveDestination(node.host, node.user, node.ssh));
      try {
        const dir = String(resource.dir ?? resource.path);
        if (resource.kind === RESOLVER_KIND) {
          const result = await connection.runAsRoot(restoreResolverCommand(String(resource.original), String(resource.domain)));
          if (result.code !== 0) errors.push(`${resource.kind} ${resource.id}: ${result.stderr.trim() || `exit ${result.code}`}`);
          continue;
        }
        const command = resource.kind === "remote-process" ? reapProcessCommand(dir, Number(resource.pgid)) : `${abandonRunCommand(dir, run.runId)}\n${removeDirCommand(dir, run.runId)}`;
        const result = await connection.run(command);
        if (result.code !== 0) errors.push(`${resource.kind} ${resource.id}: ${result.stderr.trim() || `exit ${result.code}`}`);
      } catch (error) {
        errors.push(`${resource.kind} ${resource.id}: ${(error as Error).message}`);
      } finally {
        await pool.release(connection);
      }
    }
  } finally {
    // biome-ignore lint/correctness/noUnsafeFinally: on purpose: the failures of every node, whatever ended the loop
    if (errors.length > 0) throw new HarnessError(errors.join("; "), { code: "E_CLEANUP_FAILED" });
  }
}
