import { StartError } from "../../errors.js";
import type { SshConnection } from "../../ssh/ssh-connection.js";
import type { ServiceSpec } from "../../topology/types.js";
import type { HostMapping } from "./published-ports.js";

/**
 * What a node's TCP ports look like, read over its SSH connection: the kernel's table of sockets
 * (`/proc/net/tcp{,6}` of the login's network namespace, which is the node's) and the range the
 * kernel picks ephemeral ports from. Reading a file needs no tool beyond `cat`, nor root.
 */
export const NODE_PORTS_COMMAND = "cat /proc/sys/net/ipv4/ip_local_port_range; cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; true";

export interface NodePortTable {
  /** Ports something listens on (on any address of the node). */
  listening: Set<number>;
  /** Where a free port is picked: the node's `ip_local_port_range`, as the kernel (and `docker run -p 80`) would. */
  range: readonly [number, number];
}

const LISTEN = "0A";

/** Parses `NODE_PORTS_COMMAND`'s output. */
export function parseNodePorts(text: string): NodePortTable {
  const lines = text.split("\n");
  const [low, high] = (lines[0] ?? "").trim().split(/\s+/).map(Number);
  const range: [number, number] = low && high && low <= high ? [low, high] : [32768, 60999];
  const listening = new Set<number>();
  for (const line of lines.slice(1)) {
    // "  0: 00000000:1F90 00000000:0000 0A …": sl, local address:port (hex), remote, state.
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4 || fields[3] !== LISTEN) continue;
    const port = Number.parseInt(fields[1]!.split(":")[1] ?? "", 16);
    if (Number.isInteger(port)) listening.add(port);
  }
  return { listening, range };
}

export async function readNodePorts(connection: SshConnection): Promise<NodePortTable> {
  const result = await connection.run(NODE_PORTS_COMMAND);
  return parseNodePorts(result.stdout);
}

/** One container on the node, with the ports it wants published. */
export interface NodePortRequest {
  service: ServiceSpec;
  /** The container's primary port (`port`), if it has one; 0: a free port of the node, inside the container too. */
  port: number | undefined;
  /** `ports` of its `docker` options: a fixed node port, or undefined (its own number when free). */
  ports: readonly { host: number | undefined; container: number }[];
}

/**
 * Decides where each container of one node publishes its ports on the node: a fixed node port
 * (`"15432:5432"`) must be free, or it is an error naming the service and node; every other port
 * at its own number when that is free on the node, else at a free port of the node. `taken` holds
 * what listens there and what the node's other services of the run will listen on; it grows with
 * every port handed out. `pick` chooses a free one (random in the range, by default, so that two
 * runs on one node seldom want the same).
 */
export function chooseNodePorts(requests: readonly NodePortRequest[], node: string, table: NodePortTable, taken: Set<number>, random: () => number = Math.random): Map<string, HostMapping[]> {
  const result = new Map<string, HostMapping[]>();
  const free = (port: number) => !taken.has(port) && !table.listening.has(port);
  // Fixed node ports first: a port a user wrote down is theirs, not one to hand to another container.
  for (const { service, ports } of requests) {
    for (const { host } of ports) {
      if (host === undefined) continue;
      if (!free(host)) {
        throw new StartError(
          `Port ${host} that service "${service.name}" publishes on node ${node} (\`docker.ports\`) is already in use there: stop what holds it on the node, or publish it on another node port ("<nodePort>:<containerPort>")`,
          { code: "E_PORT_IN_USE", service: service.name },
        );
      }
      taken.add(host);
    }
  }
  const pick = (): number => {
    const [low, high] = table.range;
    const size = high - low + 1;
    const start = Math.floor(random() * size);
    for (let i = 0; i < size; i++) {
      const port = low + ((start + i) % size);
      if (free(port)) return port;
    }
    throw new StartError(`Node ${node} has no free port in its range ${low}-${high}`, { code: "E_PORT_IN_USE", service: requests[0]?.service.name });
  };
  for (const { service, port, ports } of requests) {
    const wanted: { host: number | undefined; container: number }[] = [];
    const fixedPrimary = ports.find((p) => p.container === port);
    if (port !== undefined) wanted.push({ host: fixedPrimary?.host, container: port });
    for (const p of ports) if (p.container !== port) wanted.push(p);
    const mappings: HostMapping[] = [];
    for (const p of wanted) {
      if (p.container === 0) {
        const picked = pick();
        taken.add(picked);
        mappings.push({ host: picked, container: picked });
        continue;
      }
      if (p.host !== undefined) {
        mappings.push({ host: p.host, container: p.container });
        continue;
      }
      const host = free(p.container) ? p.container : pick();
      taken.add(host);
      mappings.push({ host, container: p.container });
    }
    result.set(service.name, mappings);
  }
  return result;
}
