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

/** What a started harness offers of its mesh (`harness.mesh`). */
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
