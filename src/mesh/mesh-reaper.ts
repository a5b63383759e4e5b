/**
 * Undoes what a crashed run's mesh left: each node's interface and mesh dir (over SSH), the
 * hub's iptables rule and interface (which ends its wireguard-go).
 */
import fs from "node:fs";
import { hostCommand } from "../host/host-command.js";
import { isUnroutedPoolAddress } from "../host/routes.js";
import type { RemoteResourceNode } from "../ssh/node-record.js";
import type { FamilyReaper } from "../state/reap.js";
import type { Resource } from "../state/run-state.js";
import type { RunRecord } from "../state/runs.js";
import { Hub } from "./hub.js";
import { downCommand } from "./node-interface.js";
import { HarnessError } from "../errors.js";

/** A run's mesh (`mesh-*` resources). */
export const meshReaper: FamilyReaper = { reap: reapMesh, killNow: removeMeshNow };

export async function reapMesh(_run: RunRecord, resources: readonly Resource[]): Promise<void> {
  const errors: string[] = [];
  const nodes = resources.filter((r) => r.kind === "mesh-node");
  if (nodes.length > 0) {
    const { SshPool } = await import("../ssh/ssh-pool.js");
    const { resolveDestination } = await import("../ssh/ssh-destination.js");
    const pool = new SshPool();
    for (const resource of nodes) {
      const node = resource.node as RemoteResourceNode;
      // A node that vanished with its lab: nothing left to undo, and nothing may be sent to it.
      if (await isUnroutedPoolAddress(node.host)) continue;
      const connection = pool.acquire(resolveDestination(node.host, node.user, node.ssh));
      try {
        const result = await connection.runAsRoot(downCommand(String(resource.ifname), String(resource.dir)));
        if (result.code !== 0) errors.push(`${resource.id}: ${result.stderr.trim() || `exit ${result.code}`}`);
      } catch (error) {
        errors.push(`${resource.id}: ${(error as Error).message}`);
      } finally {
        await pool.release(connection);
      }
    }
  }
  for (const resource of resources.filter((r) => r.kind === "mesh-iptables")) {
    const result = await hostCommand("iptables", ["-w", "5", "-D", ...(resource.rule as string[])]);
    if (result.code !== 0 && !/does a matching rule exist|Bad rule/i.test(result.stderr)) errors.push(`iptables ${resource.id}: ${result.stderr.trim()}`);
  }
  for (const resource of resources.filter((r) => r.kind === "mesh-hub")) {
    if (!fs.existsSync(`/sys/class/net/${resource.id}`)) continue;
    const result = await hostCommand("ip", ["link", "del", resource.id]);
    if (result.code !== 0) errors.push(`interface ${resource.id}: ${result.stderr.trim()}`);
  }
  // A per-interface sysctl went with its interface; nothing else was changed.
  if (errors.length > 0) throw new HarnessError(errors.join("; "), { code: "E_CLEANUP_FAILED" });
}

/** The last resort at the `exit` event: the hub's interface and forwarding go at once (the nodes' wait for the reaper). */
export function removeMeshNow(resources: readonly Resource[]): void {
  for (const hub of resources.filter((r) => r.kind === "mesh-hub")) {
    Hub.removeNow(
      hub.id,
      resources.filter((r) => r.kind === "mesh-iptables").map((r) => r.rule as string[]),
    );
  }
}
