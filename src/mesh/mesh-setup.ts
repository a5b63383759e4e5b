/**
 * The WireGuard mesh as the harness drives it: network set-up that the plan asks for (a `wireguard`
 * service), not a runtime. The harness checks it before anything starts, makes it before the first
 * service starts and removes it after the last one stopped; the runtimes reach it through
 * `RuntimeContext.mesh`, the user through `harness.mesh`.
 */
import { StartError } from "../errors.js";
import type { Plan, PlannedService } from "../plan/plan.js";
import type { RunState } from "../state/run-state.js";
import { sshPool } from "../ssh/ssh-pool.js";
import type { NetworkOptions } from "../topology/types.js";
import { Mesh, meshInterfaceName } from "./mesh.js";
import { checkHubPrivilege, hubImplementation } from "./privilege.js";

export class MeshSetup {
  #mesh: Mesh | undefined;

  constructor(
    readonly plan: Plan,
    private readonly network: Readonly<NetworkOptions>,
  ) {}

  /** The run's mesh from the moment it is being made until it has been removed. */
  get mesh(): Mesh | undefined {
    return this.#mesh;
  }

  /**
   * Before anything starts, for a wireguard service: may this host be the hub (CAP_NET_ADMIN,
   * WireGuard), then `node`, the checks of the service's node.
   */
  async preflight(service: PlannedService, node: () => Promise<void>): Promise<void> {
    checkHubPrivilege(meshInterfaceName(this.plan.runId, this.network.wireguardInterface), service.name);
    if (!hubImplementation()) {
      throw new StartError(`The WireGuard mesh needs the kernel module or wireguard-go on the harness host: install wireguard-go and wireguard-tools (Debian), or load the wireguard module`, {
        code: "E_MESH",
        service: service.name,
      });
    }
    await node();
  }

  /** The hub, then every node's interface; waits for every handshake. */
  async up(state: RunState): Promise<void> {
    this.#mesh = new Mesh(this.plan, this.network, sshPool, hubImplementation()!);
    await this.#mesh.up(state);
  }

  /** Undoes `up` (what of it was done); runs once. */
  async down(state: RunState): Promise<void> {
    if (!this.#mesh) return;
    try {
      await this.#mesh.down(state);
    } finally {
      this.#mesh = undefined;
    }
  }
}
