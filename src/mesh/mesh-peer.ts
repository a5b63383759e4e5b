/**
 * A service on a node of the mesh keeps its node a peer of the hub while it runs: the node joins
 * (again) as the service starts and leaves once none of its services runs. Used by the wireguard
 * target and, when the run has a mesh, by remote_lan.
 */
import type { RunningService } from "../runtimes/runtime.js";
import type { Mesh } from "./mesh.js";
import { findMesh } from "./mesh-registry.js";

export async function onMesh(runId: string, service: string, start: () => Promise<RunningService>): Promise<RunningService> {
  const mesh = findMesh(runId) as Mesh | undefined;
  if (!mesh?.has(service)) return start();
  await mesh.serviceStarting(service);
  let running: RunningService;
  try {
    running = await start();
  } catch (error) {
    await mesh.serviceStopped(service).catch(() => {});
    throw error;
  }
  return {
    ...running,
    stop: async (graceMs) => {
      try {
        await running.stop(graceMs);
      } finally {
        await mesh.serviceStopped(service);
      }
    },
  };
}
