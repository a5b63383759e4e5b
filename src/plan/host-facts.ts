import type { HostAddresses } from "./addresses.js";
import type { DnsFacts } from "./dns-names.js";

/** What the plan needs to know about the host; gathered by `gatherHostFacts`, fixed in tests. */
export interface HostFacts {
  runId: string;
  runDir: string;
  /** The port chosen for each service whose `port` is 0. */
  ports: Readonly<Record<string, number>>;
  /** The port on the harness host that reaches each service that publishes one (containers). */
  hostPorts: Readonly<Record<string, number>>;
  /**
   * The port on its node that reaches each container on a node's engine (the `docker` option of
   * remoteLan and wireguard): its own port when that was free on the node, else a free port of the node.
   */
  nodePorts?: Readonly<Record<string, number>>;
  /** The addresses each service has on the networks it is on, decided before it starts. */
  ips: Readonly<Record<string, ServiceIps>>;
  /** The harness process's environment: the last scope of `${VAR}` interpolation. */
  hostEnv: Readonly<Record<string, string | undefined>>;
  addresses: HostAddresses;
  /** The harness host's port of each fault edge's proxy, by `edgeKey(caller, target)`. */
  proxyPorts?: Readonly<Record<string, number>>;
  /** The run's DNS server (`network.dns`): its port and the run's loopback /24. */
  dns?: DnsFacts;
}

export interface ServiceIps {
  containerIp?: string;
  lanIp?: string;
  meshIp?: string;
}
