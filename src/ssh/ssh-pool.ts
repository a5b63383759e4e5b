import { type Destination, describeDestination } from "./ssh-destination.js";
import { type JumpProvider, SshConnection } from "./ssh-connection.js";

/**
 * One connection per node (user, host, port, jump route) for the whole process: every service
 * and every runtime (remote_lan, wireguard) on a node shares it. Counted: the last release closes it.
 */
export class SshPool implements JumpProvider {
  readonly #entries = new Map<string, { connection: SshConnection; refs: number }>();

  acquire(destination: Destination, service?: string): SshConnection {
    const key = describeDestination(destination);
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = { connection: new SshConnection(destination, this, service), refs: 0 };
      this.#entries.set(key, entry);
    }
    entry.refs++;
    return entry.connection;
  }

  async release(connection: SshConnection): Promise<void> {
    const entry = this.#entries.get(connection.label);
    if (!entry || entry.connection !== connection) return;
    entry.refs--;
    if (entry.refs > 0) return;
    this.#entries.delete(connection.label);
    await connection.close();
  }

  /** The connections open now, by "user@host:port" (for tests and `meshbed status`). */
  get size(): number {
    return this.#entries.size;
  }
}

/** The process's pool. */
export const sshPool = new SshPool();
