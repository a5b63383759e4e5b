import path from "node:path";
import { isUnroutedPoolAddress } from "../host/routes.js";
import type { Resource } from "../state/run-state.js";
import type { RunRecord } from "../state/runs.js";
import { removeCgroup } from "./partition-cgroups.js";
import { removeHostChains } from "./iptables.js";
import { removeNodeChainScript } from "./partition-rules.js";
import { HarnessError } from "../errors.js";

/**
 * Removes the firewall chains of a crashed run's partitions: the run's own chains on the harness
 * host (and the jumps to them), and on each node over SSH. Never a rule of anyone else.
 */
export async function reapFirewall(run: RunRecord, resources: readonly Resource[]): Promise<void> {
  const errors: string[] = [];
  for (const resource of resources) {
    try {
      if (resource.kind === "firewall-host") {
        await removeHostChains(resource.id);
      } else if (resource.kind === "firewall-cgroup") {
        const root = String(resource.root);
        // Only a cgroup of the run's own making: `<cgroup2 root>/mb-<runId>-…`.
        if (path.dirname(resource.id) !== root || !path.basename(resource.id).startsWith(`mb-${run.runId}-`)) throw new HarnessError("not a cgroup of this run", { code: "E_CLEANUP_FAILED" });
        removeCgroup(root, resource.id);
      } else if (resource.kind === "firewall-node") {
        const node = resource.node as { host: string; user: string | undefined; ssh: Record<string, unknown> } | undefined;
        if (!node) throw new HarnessError("no node recorded", { code: "E_CLEANUP_FAILED" });
        // A node that vanished with its lab: nothing left to undo, and nothing may be sent to it.
        if (await isUnroutedPoolAddress(node.host)) continue;
        const { SshPool } = await import("../ssh/ssh-pool.js");
        const { resolveDestination } = await import("../ssh/ssh-destination.js");
        const pool = new SshPool();
        const connection = pool.acquire(resolveDestination(node.host, node.user, node.ssh as never));
        try {
          const result = await connection.runAsRoot(removeNodeChainScript(String(resource.chain)));
          if (result.code !== 0) throw new HarnessError(result.stderr.trim() || `exit ${result.code}`, { code: "E_FIREWALL" });
        } finally {
          await pool.release(connection);
        }
      } else {
        throw new HarnessError(`unknown kind ${resource.kind}`, { code: "E_CLEANUP_FAILED" });
      }
    } catch (error) {
      errors.push(`${resource.kind} ${resource.id}: ${(error as Error).message}`);
    }
  }
  if (errors.length > 0) throw new HarnessError(errors.join("; "), { code: "E_CLEANUP_FAILED" });
}
