/** The meshes of the runs of this process, by run id: what `harness.mesh` reaches. */
import { HarnessError } from "../errors.js";

export interface PeerStatus {
  node: string;
  services: string[];
  meshIp: string;
  publicKey: string;
  /** Whether the hub has the node as a peer (false once revoked or its services stopped). */
  connected: boolean;
  endpoint: string | undefined;
  /** When the last handshake completed (ms since the epoch); 0: none yet. */
  lastHandshake: number;
}

/** What a started harness offers of its mesh. */
export interface MeshControl {
  /** The hub's interface on the harness host. */
  readonly interfaceName: string;
  readonly hubIp: string;
  /**
   * Removes the node of `service` (and so every service on that node) from the mesh at once: its
   * connections through the mesh stop, and it stays off for the rest of the run, restarts included.
   */
  revoke(service: string): Promise<void>;
  /** Each node of the mesh as the hub sees it. */
  peers(): Promise<PeerStatus[]>;
}

const meshes = new Map<string, MeshControl>();

export function rememberMesh(runId: string, mesh: MeshControl): void {
  meshes.set(runId, mesh);
}

export function forgetMesh(runId: string): void {
  meshes.delete(runId);
}

/** The mesh of a run; an error that says why when the topology has none. */
export function meshOf(runId: string): MeshControl {
  const mesh = meshes.get(runId);
  if (!mesh) {
    throw new HarnessError(`Run ${runId} has no WireGuard mesh: it is made only when the topology has a \`wireguard\` service (and removed when the harness stops)`, {
      code: "E_MESH",
    });
  }
  return mesh;
}

export function hasMesh(runId: string): boolean {
  return meshes.has(runId);
}

/** The mesh of a run, if it has one (for the runtimes). */
export function findMesh(runId: string): MeshControl | undefined {
  return meshes.get(runId);
}
