import { sourceAddressToward } from "../../host/routes.js";
import dns from "node:dns/promises";
import net from "node:net";
import { HarnessError, StartError } from "../../errors.js";
import { type ServicePackage, readPackage } from "../../package/package-archive.js";
import type { PlannedService, ServiceIps } from "../../plan/plan.js";
import { targetOptions } from "../../topology/target-options.js";
import type { ServiceSpec } from "../../topology/types.js";
import type { FactsContext, FactsContribution, RunningService, Runtime, RuntimeContext } from "../runtime.js";
import type { Plan } from "../../plan/plan.js";
import type { RunState } from "../../state/run-state.js";
import { TOOLS_CHECK, binaryCheckCommand, systemRequiresCommand } from "./remote-script.js";
import { renderPackageTemplates, startRemoteService } from "./remote-service.js";
import type { SshConnection } from "../../ssh/ssh-connection.js";
import { resolveDestination } from "../../ssh/ssh-destination.js";
import type { RemoteTarget } from "./ssh-options.js";
import { type SshPool, sshPool } from "../../ssh/ssh-pool.js";
import { nodeForState } from "../../ssh/node-record.js";
import { RESOLVER_KIND, checkResolverRights, pointResolver, restoreResolver } from "./node-resolver.js";

/**
 * Services on nodes reached over SSH: a binary already there, or a package uploaded. One
 * connection per node, from the process's pool, shared with every other service on the node.
 * Serves remote_lan, and wireguard: nodes that the harness reaches through the run's mesh, which the
 * harness makes (the runtime gets it as `context.mesh`).
 */
export class SshRuntime implements Runtime {
  readonly #connections = new Map<string, SshConnection>();
  readonly #packages = new Map<string, Promise<ServicePackage>>();
  #containers: Promise<Runtime> | undefined;
  /** Each node whose resolver this runtime pointed at the run's DNS server (`dns: true`), by its label. */
  readonly #resolvers = new Map<string, Promise<{ connection: SshConnection; state: RunState } | undefined>>();

  /**
   * `loadContainers` makes the runtime of containers on nodes' engines (the `docker` option), which
   * this one hands those services to: handed in by the registration point, since one runtime never
   * imports another; loaded only when a topology has such a service.
   */
  constructor(
    readonly kind: "remote_lan" | "wireguard" = "remote_lan",
    private readonly pool: SshPool = sshPool,
    private readonly loadContainers?: (kind: "remote_lan" | "wireguard") => Promise<Runtime>,
  ) {}

  /**
   * Each node's address, the harness host's address toward it, a package's port, and where each
   * container on a node publishes its ports there. Connects only to nodes that run containers (to
   * read which of their ports are free).
   */
  async gatherFacts(services: readonly ServiceSpec[], context: FactsContext): Promise<FactsContribution> {
    const ips: Record<string, ServiceIps> = {};
    const toward: Record<string, string> = {};
    const ports: Record<string, number> = {};
    for (const service of services) {
      const target = targetOf(service);
      const destination = resolveDestination(target.host, target.user, target.ssh, service.name);
      const ip = await addressOf(destination.hostName, service.name);
      ips[service.name] = { lanIp: ip };
      const source = await sourceAddressToward(ip);
      if (source) toward[ip] = source;
      if (service.port === undefined && target.package) {
        const port = (await this.#package(service.name, target.package)).manifest.port;
        if (port !== undefined) ports[service.name] = port;
      }
    }
    const containers = services.filter((s) => targetOf(s).docker !== undefined);
    let nodePorts: Record<string, number> | undefined;
    if (containers.length > 0) {
      const part = await (await this.#containerRuntime(containers[0]!.name)).gatherFacts!(containers, context).catch((error: unknown) => {
        // A node that cannot be logged in to is reported naming the service, as in preflight.
        throw error instanceof HarnessError && error.service !== undefined ? forService(error, error.service) : error;
      });
      Object.assign(ports, part.ports);
      nodePorts = part.nodePorts;
    }
    return { ips, ports, ...(nodePorts && { nodePorts }), addresses: { lanIpToward: toward } };
  }

  /**
   * Logs in (verifying the host key) and checks the node: for a container, that it has an engine;
   * else, after rendering a package's config templates (an unknown variable fails here, before
   * anything starts), that it has the binary, or what the package requires.
   */
  async preflight(service: PlannedService): Promise<void> {
    const target = targetOf(service.spec);
    if (target.docker) {
      await this.#connection(service)
        .connect()
        .catch((error: unknown) => {
          throw forService(error, service.name);
        });
      return (await this.#containerRuntime(service.name)).preflight(service);
    }
    const pkg = target.package ? await this.#package(service.name, target.package) : undefined;
    if (pkg) renderPackageTemplates(pkg, service);
    const connection = this.#connection(service);
    await connection.connect().catch((error: unknown) => {
      throw forService(error, service.name);
    });
    if (target.dns) await checkResolverRights(service, connection);
    const tools = await connection.run(TOOLS_CHECK);
    const missingTools = tools.stdout.split("\n").filter(Boolean);
    if (missingTools.length > 0) {
      throw new StartError(`Node ${connection.label} lacks ${missingTools.join(", ")}, which meshbed needs to run "${service.name}" there: install util-linux and coreutils`, {
        code: "E_SYSTEM_REQUIREMENTS",
        service: service.name,
      });
    }
    if (pkg) {
      const result = await connection.run(systemRequiresCommand(pkg.manifest.systemRequires));
      const missing = result.stdout.split("\n").filter(Boolean);
      if (missing.length > 0 || result.code !== 0) {
        throw new StartError(
          `Node ${connection.label} lacks what package ${pkg.manifest.name} ${pkg.manifest.version} requires (system_requires): ${missing.join(", ") || result.stderr.trim()}; install it there, or fix the manifest`,
          { code: "E_SYSTEM_REQUIREMENTS", service: service.name },
        );
      }
      return;
    }
    const check = await connection.run(binaryCheckCommand(target.binary!));
    if (check.code !== 0) {
      throw new StartError(
        `The binary ${JSON.stringify(target.binary)} of service "${service.name}" is not on node ${connection.label} (or is not executable there): install it, or fix \`binary\``,
        { code: "E_BINARY_NOT_FOUND", service: service.name },
      );
    }
  }

  /** Makes the images of containers on nodes ready (the only run-wide set-up here). */
  async prepare(plan: Plan, state?: RunState): Promise<void> {
    const containers = Object.values(plan.services).filter((s) => s.target === this.kind && targetOf(s.spec).docker !== undefined);
    if (containers.length === 0) return;
    await (await this.#containerRuntime(containers[0]!.name)).prepare?.(plan, state);
  }

  async start(service: PlannedService, context: RuntimeContext): Promise<RunningService> {
    if (this.kind === "wireguard" && !context.mesh)
      throw new HarnessError(`meshbed: wireguard service "${service.name}" started before the mesh was made (a bug in meshbed: please report it)`, { code: "E_INTERNAL", service: service.name });
    const target = targetOf(service.spec);
    const pkg = target.package ? await this.#package(service.name, target.package) : undefined;
    const containers = target.docker ? await this.#containerRuntime(service.name) : undefined;
    if (target.dns && !containers && context.plan.dns) await this.#pointResolver(service, context);
    const start = () => (containers ? containers.start(service, context) : startRemoteService(service, context, this.#connection(service), pkg));
    // With a mesh, a node on it (a WireGuard node; a LAN node that hosts services) is its peer while one of its services runs.
    return context.mesh ? context.mesh.onMesh(service.name, start) : start();
  }

  /** Once per node: the first of its services with `dns: true` points it, every later one finds it so. */
  #pointResolver(service: PlannedService, context: RuntimeContext): Promise<unknown> {
    const connection = this.#connection(service);
    let pointed = this.#resolvers.get(connection.label);
    if (!pointed) {
      const target = targetOf(service.spec);
      pointed = pointResolver(service, context.plan, connection, context.state, nodeForState(target.host, target.user, target.ssh)).then(() => ({ connection, state: context.state }));
      this.#resolvers.set(connection.label, pointed);
    }
    return pointed;
  }

  /** Puts back every node resolver this runtime changed (their services have stopped). */
  async #restoreResolvers(): Promise<void> {
    const failures: string[] = [];
    for (const [label, pointed] of this.#resolvers) {
      const done = await pointed.catch(() => undefined);
      if (!done) continue;
      const record = done.state.resources.find((r) => r.kind === RESOLVER_KIND && r.id === label);
      if (!record) continue;
      try {
        await restoreResolver(done.connection, String(record.original), String(record.domain));
        done.state.forget(RESOLVER_KIND, label);
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
    this.#resolvers.clear();
    if (failures.length > 0) throw new HarnessError(failures.join("; "), { code: "E_STOP_FAILED" });
  }

  /** Releases this runtime's connections (the pool closes a node's when no one else uses it). */
  async dispose(): Promise<void> {
    const restoring = await this.#restoreResolvers().then(
      () => undefined,
      (error: unknown) => error,
    );
    const containers = await this.#containers?.catch(() => undefined);
    const disposing = containers?.dispose?.();
    const connections = [...this.#connections.values()];
    this.#connections.clear();
    await Promise.all(connections.map((c) => this.pool.release(c)));
    await disposing;
    if (restoring) throw restoring;
  }

  #containerRuntime(service: string): Promise<Runtime> {
    if (!this.loadContainers) {
      return Promise.reject(new HarnessError(`Service "${service}" runs a container on a node (\`docker\`), which this runtime was made without`, { code: "E_RUNTIME_UNAVAILABLE", service }));
    }
    this.#containers ??= this.loadContainers(this.kind);
    return this.#containers;
  }

  #connection(service: PlannedService): SshConnection {
    let connection = this.#connections.get(service.name);
    if (!connection) {
      const target = targetOf(service.spec);
      connection = this.pool.acquire(resolveDestination(target.host, target.user, target.ssh, service.name), service.name);
      this.#connections.set(service.name, connection);
    }
    return connection;
  }

  #package(service: string, source: string): Promise<ServicePackage> {
    let pkg = this.#packages.get(service);
    if (!pkg) {
      pkg = readPackage(source).catch((error: Error) => {
        throw new StartError(`The \`package\` of service "${service}" cannot be used: ${error.message}`, { code: "E_PACKAGE_INVALID", service, cause: error });
      });
      this.#packages.set(service, pkg);
    }
    return pkg;
  }
}

function targetOf(service: ServiceSpec): RemoteTarget {
  return targetOptions(service, "remote_lan", "wireguard");
}

async function addressOf(hostName: string, service: string): Promise<string> {
  if (net.isIP(hostName)) return hostName;
  try {
    return (await dns.lookup(hostName)).address;
  } catch (error) {
    throw new StartError(`The host ${hostName} of service "${service}" does not resolve (${(error as NodeJS.ErrnoException).code}): fix \`host\`, or its HostName in ~/.ssh/config`, {
      code: "E_SSH_CONNECT",
      service,
      cause: error,
    });
  }
}

/** An SSH error that does not say which service it stopped: the same error, naming it. */
function forService(error: unknown, service: string): unknown {
  if (!(error instanceof HarnessError) || error.message.includes(`"${service}"`)) return error;
  const Kind = error.constructor as new (message: string, options: ConstructorParameters<typeof HarnessError>[1]) => HarnessError;
  return new Kind(`Service "${service}": ${error.message}`, { code: error.code, service, cause: error.cause ?? error, logTail: error.logTail });
}
