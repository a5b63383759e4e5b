import path from "node:path";
import { ConfigError } from "../errors.js";
import { envPrefix } from "../topology/service-options.js";
import type { ServiceSpec, TargetKind, TopologySpec } from "../topology/types.js";
import { type Endpoint, type HostAddresses, type Placement, addressFor, formatEndpoint, hostAs } from "./addresses.js";
import { type DnsNames, checkNameLabels, dnsNames, dnsServers } from "./dns-names.js";
import { edgeKey, faultEdges } from "./fault-edges.js";
import type { HostFacts } from "./host-facts.js";
import { interpolate } from "./interpolate.js";
import { dependencyLevels } from "./order.js";
import { placeService } from "./placement.js";

/** Where a process's `files` are written, in its own folder of the run's state dir (`HARNESS_FILES_DIR`). */
export const PROCESS_FILES_DIR = "files";

// In a file of their own: placement.ts reads them, and plan.ts imports placement.ts.
export type { HostFacts, ServiceIps } from "./host-facts.js";

/** Every address a service has, as "ip:port". */
export interface ServiceAddresses {
  /** Reachable from the harness host. */
  host?: string;
  /** On the run's docker network. */
  container?: string;
  /** On the LAN. */
  lan?: string;
  /** On the WireGuard mesh. */
  wireguard?: string;
}

export interface PlannedService {
  readonly name: string;
  readonly target: TargetKind;
  readonly spec: ServiceSpec;
  /** Start-up level: 0 has no dependencies. */
  readonly level: number;
  readonly placement: Placement;
  /** The port the service listens on where it runs (its `PORT`). */
  readonly port: number | undefined;
  /** "ip:port" reachable from the harness host; the probe's target. */
  readonly addr: string | undefined;
  readonly addresses: Readonly<ServiceAddresses>;
  /** The complete env the harness gives the service (without an inherited environment). */
  readonly env: Readonly<Record<string, string>>;
  /** Its arguments, interpolated. */
  readonly args: readonly string[];
  /** The service's own folder in the run's state dir. */
  readonly dir: string;
  /** Where the service reads its env file (`HARNESS_ENV_FILE`), on the machine it runs on. */
  readonly envFile: string;
}

/**
 * A fault edge's proxy: it listens on the harness host where the caller reaches the host, and
 * forwards to the target's address from the host. The caller is given `listen` as the target's address.
 */
export interface PlannedProxy {
  readonly caller: string;
  readonly target: string;
  readonly listen: Readonly<Endpoint>;
  readonly upstream: Readonly<Endpoint>;
}

export interface Plan {
  readonly runId: string;
  readonly runDir: string;
  readonly levels: readonly (readonly string[])[];
  readonly services: Readonly<Record<string, PlannedService>>;
  /** Whether the WireGuard mesh is needed: only when a `wireguard` service exists. */
  readonly meshNeeded: boolean;
  /** The harness host's own addresses as each kind of caller sees them. */
  readonly hostAddresses: Readonly<HostAddresses>;
  /** One per fault edge (`faults.edges`, `faultable`); empty when the topology declares none. */
  readonly proxies: readonly PlannedProxy[];
  /** The run's names (`network.dns`): which address each name answers for whom; undefined without DNS. */
  readonly dns?: DnsNames;
}

/** The address of `target` as `caller` reaches it; `undefined` when it has none there. */
export function addrFor(plan: Plan, target: string, caller: string): string | undefined {
  const proxy = plan.proxies.find((p) => p.caller === caller && p.target === target);
  if (proxy) return formatEndpoint(proxy.listen);
  const endpoint = addressFor(plan.services[target]!.placement, plan.services[caller]!.placement, plan.hostAddresses);
  return endpoint ? formatEndpoint(endpoint) : undefined;
}

/** Decides order, ports, addresses and env of every service. Pure. */
export function makePlan(spec: TopologySpec, facts: HostFacts): Plan {
  const levels = dependencyLevels(spec.services);
  const levelOf = new Map(levels.flatMap((names, i) => names.map((n) => [n, i] as const)));
  const placements = new Map(spec.services.map((s) => [s.name, placeService(s, facts)]));
  checkHostPorts(spec.services, placements);
  const proxies = planProxies(spec, placements, facts);
  if (facts.dns) checkNameLabels(spec.services);
  const endpoints = new Map(spec.services.map((s) => [s.name, endpointsOf(s, spec.services, placements, proxies, facts.addresses)]));
  const servers = facts.dns ? dnsServers(spec.services, placements, facts.addresses, facts.dns, endpoints) : undefined;
  const fromHostOf = new Map<string, Endpoint>();

  const services: Record<string, PlannedService> = {};
  for (const service of spec.services) {
    const placement = placements.get(service.name)!;
    const dir = path.join(facts.runDir, service.name);
    const envFile = placement.location === "host" ? path.join(dir, "service.env") : remoteEnvFile(service);
    const injected: Record<string, string> = {};
    for (const [target, endpoint] of endpoints.get(service.name)!) {
      if (target === service.name) continue;
      const prefix = envPrefix(target);
      injected[`${prefix}_HOST`] = endpoint.host;
      if (endpoint.port !== undefined) {
        injected[`${prefix}_ADDR`] = formatEndpoint(endpoint);
        injected[`${prefix}_PORT`] = String(endpoint.port);
      }
    }
    if (placement.port !== undefined) injected.PORT = String(placement.port);
    injected.HARNESS_RUN_ID = facts.runId;
    injected.HARNESS_SERVICE = service.name;
    injected.HARNESS_ENV_FILE = envFile;
    const server = servers?.[service.name];
    if (server !== undefined) injected.HARNESS_DNS = `${server}:${facts.dns!.port}`;
    // Only a process that has `files` is told where they are: every other env stays as it was.
    const files = service.target === "process" ? service.options.files : undefined;
    if (files && Object.keys(files).length > 0) injected.HARNESS_FILES_DIR = path.join(dir, PROCESS_FILES_DIR);

    const env: Record<string, string> = { ...injected, ...ownEnv(service, injected, facts.hostEnv) };
    const args = service.args.map((a, i) => interpolate(a, [env, facts.hostEnv], { service: service.name, field: `args[${i}]` }));
    const fromHost = addressFor(placement, { location: "host", port: undefined }, facts.addresses);
    if (fromHost) fromHostOf.set(service.name, fromHost);
    services[service.name] = Object.freeze({
      name: service.name,
      target: service.target,
      spec: service,
      level: levelOf.get(service.name)!,
      placement,
      port: placement.port,
      addr: fromHost?.port === undefined ? undefined : formatEndpoint(fromHost),
      addresses: Object.freeze(addressesOf(placement, fromHost ? formatEndpoint(fromHost) : undefined)),
      env: Object.freeze(env),
      args: Object.freeze(args),
      dir,
      envFile,
    });
  }
  return Object.freeze({
    runId: facts.runId,
    runDir: facts.runDir,
    levels,
    services: Object.freeze(services),
    meshNeeded: spec.services.some((s) => s.target === "wireguard"),
    hostAddresses: facts.addresses,
    proxies: Object.freeze(proxies),
    ...(facts.dns && servers && { dns: dnsNames({ runId: facts.runId, facts: facts.dns, placements, servers, endpoints, fromHost: fromHostOf }) }),
  });
}

/**
 * The address table's row of one caller: every target it has an address of → that endpoint (a fault
 * proxy's when the edge has one), its own name first (its own address, as it reaches itself).
 */
function endpointsOf(
  caller: ServiceSpec,
  all: readonly ServiceSpec[],
  placements: ReadonlyMap<string, Placement>,
  proxies: readonly PlannedProxy[],
  addresses: HostAddresses,
): Map<string, Endpoint> {
  const placement = placements.get(caller.name)!;
  const seen = new Map<string, Endpoint>();
  const self = addressFor(placement, placement, addresses);
  if (self) seen.set(caller.name, self);
  for (const other of all) {
    if (other.name === caller.name) continue;
    const proxy = proxies.find((p) => p.caller === caller.name && p.target === other.name);
    const endpoint = proxy?.listen ?? addressFor(placements.get(other.name)!, placement, addresses);
    if (endpoint) seen.set(other.name, endpoint);
  }
  return seen;
}

/** The proxy of each fault edge: where its caller reaches this host, at the port picked for it. */
function planProxies(spec: TopologySpec, placements: Map<string, Placement>, facts: HostFacts): PlannedProxy[] {
  return faultEdges(spec).map(({ caller, target }) => {
    const upstream = addressFor(placements.get(target)!, { location: "host", port: undefined }, facts.addresses);
    if (upstream?.port === undefined) {
      throw new ConfigError(
        `Service "${target}" has no port, so the fault edge "${caller}" → "${target}" carries nothing to fault: give "${target}" a \`port\`, or leave the edge out of \`faults.edges\``,
        {
          code: "E_CONFIG",
          service: target,
        },
      );
    }
    const host = hostAs(placements.get(caller)!, facts.addresses);
    const port = facts.proxyPorts?.[edgeKey(caller, target)];
    if (host === undefined || port === undefined) {
      throw new ConfigError(`The fault edge "${caller}" → "${target}" has no proxy address: "${caller}" cannot reach this host (a bug in meshbed: please report it)`, {
        code: "E_INTERNAL",
        service: caller,
      });
    }
    return Object.freeze({ caller, target, listen: Object.freeze({ host, port }), upstream: Object.freeze(upstream) });
  });
}

/**
 * The service's own env values, interpolated. A value sees the injected env, then the service's
 * other values (themselves interpolated: `B: "${A}/x"`), then the host's env. A value that refers
 * to itself, directly or through others, reads the host's variable: `PATH: "/opt/bin:${PATH}"`.
 */
function ownEnv(service: ServiceSpec, injected: Record<string, string>, hostEnv: HostFacts["hostEnv"]): Record<string, string> {
  const done: Record<string, string> = {};
  const resolving = new Set<string>();
  let loopedBack: string | undefined;
  const resolve = (key: string): string => {
    if (done[key] !== undefined) return done[key];
    resolving.add(key);
    try {
      done[key] = interpolate(service.env[key]!, [injected, own, hostEnv], { service: service.name, field: `env.${key}` });
    } catch (error) {
      if (loopedBack === undefined || hostEnv[loopedBack] !== undefined || !(error instanceof ConfigError)) throw error;
      const chain = [...resolving].slice([...resolving].indexOf(loopedBack));
      throw new ConfigError(
        `The env values of service "${service.name}" refer to each other in a loop: ${[...chain, loopedBack].join(" -> ")}, ` +
          `and the host has no ${loopedBack} to start from: give one of them a value without the others`,
        { code: "E_UNKNOWN_VARIABLE", service: service.name, cause: error },
      );
    }
    resolving.delete(key);
    return done[key];
  };
  // Read lazily, so that a value is interpolated before another one uses it.
  const own: Record<string, string | undefined> = {};
  for (const key of Object.keys(service.env)) {
    Object.defineProperty(own, key, {
      enumerable: true,
      get: () => {
        if (!resolving.has(key)) return resolve(key);
        loopedBack = key;
        return undefined;
      },
    });
  }
  for (const key of Object.keys(service.env)) resolve(key);
  return done;
}

function addressesOf(p: Placement, host: string | undefined): ServiceAddresses {
  const withPort = (ip: string | undefined) => (ip === undefined ? undefined : p.port === undefined ? ip : `${ip}:${p.port}`);
  const result: ServiceAddresses = {};
  if (host !== undefined) result.host = host;
  const container = withPort(p.containerIp);
  if (container !== undefined) result.container = container;
  const lan = withPort(p.lanIp);
  if (lan !== undefined) result.lan = lan;
  const wireguard = withPort(p.meshIp);
  if (wireguard !== undefined) result.wireguard = wireguard;
  return result;
}

function remoteEnvFile(service: ServiceSpec): string {
  // A node's under its `remoteRoot`; a container's at the default root inside it.
  const root = service.target === "remote_lan" || service.target === "wireguard" ? service.options.remoteRoot : undefined;
  return path.posix.join(root ?? "/opt/harness", service.name, "service.env");
}

/** Two services of this host cannot listen on one port. */
function checkHostPorts(services: readonly ServiceSpec[], placements: Map<string, Placement>): void {
  const owner = new Map<number, string>();
  for (const service of services) {
    const hostPort = placements.get(service.name)!.hostPort;
    if (hostPort === undefined || hostPort === 0) continue;
    const other = owner.get(hostPort);
    if (other !== undefined) {
      throw new ConfigError(`Services "${other}" and "${service.name}" both want port ${hostPort} on this host: give one of them another \`port\`, or \`port: 0\``, {
        code: "E_PORT_IN_USE",
        service: service.name,
      });
    }
    owner.set(hostPort, service.name);
  }
}
