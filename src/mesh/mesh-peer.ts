/**
 * A service on a node of the mesh keeps its node a peer of the hub while it runs: the node joins
 * (again) as the service starts and leaves once none of its services runs. What `Mesh.onMesh`
 * does for the runtimes (the wireguard target and, when the run has a mesh, remote_lan).
 */
import type { RunningService } from "../runtimes/runtime.js";

/** The mesh as it follows which of its services run. */
interface MeshPeers {
  has(service: string): boolean;
  serviceStarting(service: string): Promise<void>;
  serviceStopped(service: string): Promise<void>;
}

export async function onMesh(mesh: MeshPeers, service: string, start: () => Promise<RunningService>): Promise<RunningService> {
  if (!mesh.has(service)) return start();
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
