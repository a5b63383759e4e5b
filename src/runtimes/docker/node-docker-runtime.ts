import type Docker from "dockerode";
import { debugFor } from "../../debug.js";
import { HarnessError, StartError } from "../../errors.js";
import type { Plan, PlannedService } from "../../plan/plan.js";
import { nodeForState } from "../../ssh/node-record.js";
import type { SshConnection } from "../../ssh/ssh-connection.js";
import { describeDestination, resolveDestination } from "../../ssh/ssh-destination.js";
import { type SshPool, sshPool } from "../../ssh/ssh-pool.js";
import type { RunState } from "../../state/run-state.js";
import { targetOptions } from "../../topology/target-options.js";
import type { RemoteTarget } from "../ssh/ssh-options.js";
import type { ServiceSpec } from "../../topology/types.js";
import type { FactsContext, FactsContribution, RunningService, Runtime, RuntimeContext } from "../runtime.js";
import { removeContainer } from "./remove-container.js";
import { checkHostFiles } from "./container-files.js";
import { type ContainerLaunch, entrypointOf, startContainer } from "./container.js";
import type { DockerTarget } from "./docker-options.js";
import { type Engine, connectEngine, engineMessage } from "./engine.js";
import { buildImage, builtTag, findImage, pullImage, removeImage } from "./images.js";
import { connectNodeEngine } from "./node-engine.js";
import { type NodePortRequest, chooseNodePorts, readNodePorts } from "./node-ports.js";
import type { HostMapping } from "./published-ports.js";
import { RUN_LABEL, SERVICE_LABEL } from "./run-network.js";
import { shipImage } from "./ship-image.js";

const log = debugFor("docker");

/** How often a node's container is checked for its exit (and its log polled, when no channel is spare for a follow). */
const EXIT_POLL_MS = 500;

/** The state kind of a container on a node's engine: its family's reaper logs in to the node (node-docker-reaper.ts). */
export const NODE_CONTAINER = "nodedocker-container";
/** An image this run put on a node's engine (shipped or built there): removed at the end. */
export const NODE_IMAGE = "nodedocker-image";

interface NodeImage {
  ref: string;
  config: Docker.ImageInspectInfo["Config"] | undefined;
}

/**
 * Containers on the Docker engines of LAN and WireGuard nodes (the `docker` option of remoteLan and
 * wireguard), each engine reached over its node's one pooled SSH connection. The same container code
 * as local containers (container.ts), on the node's default bridge, its ports published on the node
 * at the same numbers. Images: the node's own, else shipped from the harness host's engine (built
 * there for `build`), else pulled on the node.
 */
export class NodeDockerRuntime implements Runtime {
  readonly #connections = new Map<string, SshConnection>();
  /** Node label → its engine, connected once for every service on it. */
  readonly #engines = new Map<string, Promise<Engine>>();
  readonly #images = new Map<string, NodeImage>();
  /** Images this run put on each node (label → refs), and built on the harness host: removed by `dispose`. */
  readonly #placed = new Map<string, Map<string, Promise<void>>>();
  readonly #built = new Set<string>();
  /** Service → the ports it publishes on its node (container → node), its primary port first: decided in `gatherFacts`. */
  readonly #published = new Map<string, HostMapping[]>();
  #local: Promise<Engine> | undefined;
  #runId: string | undefined;
  #state: RunState | undefined;

  constructor(
    readonly kind: "remote_lan" | "wireguard",
    private readonly pool: SshPool = sshPool,
  ) {}

  /**
   * Where each container publishes its ports on its node: its own numbers where they are free there,
   * else free ports of the node (read over the node's SSH connection; nothing is created). Ports the
   * run's other services on that node will listen on count as taken.
   */
  async gatherFacts(services: readonly ServiceSpec[], context: FactsContext): Promise<FactsContribution> {
    const byNode = new Map<string, ServiceSpec[]>();
    for (const service of services) {
      const label = nodeLabel(service);
      byNode.set(label, [...(byNode.get(label) ?? []), service]);
    }
    const nodePorts: Record<string, number> = {};
    const ports: Record<string, number> = {};
    await Promise.all(
      [...byNode].map(async ([label, onNode]) => {
        const connection = this.#connectionOf(onNode[0]!.name, remoteOfSpec(onNode[0]!));
        const table = await readNodePorts(connection);
        const taken = new Set<number>();
        for (const other of context.spec.services) {
          if ((other.target !== "remote_lan" && other.target !== "wireguard") || other.port === undefined || other.port === 0) continue;
          if (!other.options.docker && nodeLabel(other) === label) taken.add(other.port);
        }
        const requests: NodePortRequest[] = onNode.map((service) => ({ service, port: service.port, ports: remoteOfSpec(service).docker!.ports }));
        for (const [name, mappings] of chooseNodePorts(requests, label, table, taken)) {
          this.#published.set(name, mappings);
          const primary = mappings[0];
          const spec = onNode.find((s) => s.name === name)!;
          if (primary === undefined || spec.port === undefined) continue;
          nodePorts[name] = primary.host;
          if (spec.port === 0) ports[name] = primary.container;
        }
        log(`ports on ${label}: ${[...this.#published].map(([n, m]) => `${n} ${m.map((p) => `${p.host}->${p.container}`).join(",")}`).join("; ")}`);
      }),
    );
    return { nodePorts, ports };
  }

  /** The node's engine answers; the container's files and entrypoint are usable; an image that may not be pulled is somewhere. */
  async preflight(service: PlannedService): Promise<void> {
    const target = dockerOf(service);
    checkHostFiles(service, target.files);
    entrypointOf(service);
    const engine = await this.#engine(service);
    if (target.image !== undefined && target.pull === "never" && !(await findImage(engine.docker, target.image))) {
      const local = await this.#localEngine([service.name]).catch(() => undefined);
      if (!local || !(await findImage(local.docker, target.image))) {
        throw new StartError(
          `Image "${target.image}" of service "${service.name}" is neither on node ${this.#connection(service).label} nor on this host's engine, and \`pull: "never"\` forbids pulling it: load it on either (\`docker load -i image.tar\`), or allow \`pull: "missing"\``,
          { code: "E_IMAGE_NOT_FOUND", service: service.name },
        );
      }
    }
  }

  /** Makes every image ready on its node, in parallel: a missing one fails the run before anything starts. */
  async prepare(plan: Plan, state?: RunState): Promise<void> {
    this.#runId = plan.runId;
    this.#state ??= state;
    const services = Object.values(plan.services).filter((s) => s.target === this.kind && remoteOf(s).docker !== undefined);
    const results = await Promise.allSettled(services.map((s) => this.#resolveImage(s, plan.runId)));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failure) throw failure.reason;
  }

  async start(service: PlannedService, context: RuntimeContext): Promise<RunningService> {
    this.#state ??= context.state;
    const image = this.#images.get(service.name);
    if (!image) {
      throw new HarnessError(`meshbed: container service "${service.name}" started before its image was made ready (a bug in meshbed: please report it)`, {
        code: "E_INTERNAL",
        service: service.name,
      });
    }
    const engine = await this.#engine(service);
    const remote = remoteOf(service);
    const connection = this.#connection(service);
    const launch: ContainerLaunch = {
      docker: engine.docker,
      runId: context.plan.runId,
      network: undefined,
      networkReady: Promise.resolve(),
      ip: undefined,
      image: image.ref,
      imageConfig: image.config,
      published: this.#published.get(service.name) ?? nodePorts(service),
      // On every interface of the node: LAN callers come to its LAN address, WireGuard ones to its mesh address.
      bindHost: "0.0.0.0",
      hostEnvFile: undefined,
      // `dns: true`: the run's DNS server; its queries leave the node from the node's address, which the server knows.
      ...(remote.dns && context.plan.dns?.port === 53 && context.plan.dns.serverOf[service.name] !== undefined && { dns: { server: context.plan.dns.serverOf[service.name]!, aliases: [] } }),
      record: { kind: NODE_CONTAINER, extra: { node: nodeForState(remote.host, remote.user, remote.ssh) } },
      where: `node ${connection.label}`,
      node: connection.label,
      channels: { reserveStream: () => connection.tryReserveStream(), pollMs: EXIT_POLL_MS },
    };
    log(`start ${service.name} on ${connection.label}: image ${image.ref}, ports ${launch.published.map((p) => `${p.host}->${p.container}`).join(",")}`);
    return startContainer(launch, service, context);
  }

  /** Removes what is left of the run on every node's engine (by its label), the images it placed, and releases the connections. */
  async dispose(): Promise<void> {
    const errors: string[] = [];
    const runId = this.#runId;
    for (const [label, connecting] of this.#engines) {
      const engine = await connecting.catch(() => undefined);
      if (!engine || runId === undefined) continue;
      const { docker } = engine;
      try {
        const leftovers = await docker.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${runId}`] } });
        for (const info of leftovers) {
          await removeContainer(docker.getContainer(info.Id))
            .then(() => this.#state?.forget(NODE_CONTAINER, info.Id))
            .catch((error: unknown) => errors.push(`container ${info.Names[0] ?? info.Id} on ${label}: ${engineMessage(error)}`));
        }
        for (const [ref, shipping] of this.#placed.get(label) ?? []) {
          await shipping.catch(() => {});
          await removeImage(docker, ref)
            .then(() => this.#state?.forget(NODE_IMAGE, `${label} ${ref}`))
            .catch((error: unknown) => errors.push(`image ${ref} on ${label}: ${engineMessage(error)}`));
        }
      } catch (error) {
        errors.push(`node ${label}: ${engineMessage(error)}`);
      }
    }
    const local = await this.#local?.catch(() => undefined);
    for (const tag of this.#built) {
      if (!local) break;
      await removeImage(local.docker, tag)
        .then(() => this.#state?.forget("docker-image", tag))
        .catch((error: unknown) => errors.push(`image ${tag}: ${engineMessage(error)}`));
    }
    this.#engines.clear();
    const connections = [...this.#connections.values()];
    this.#connections.clear();
    await Promise.all(connections.map((c) => this.pool.release(c)));
    if (errors.length > 0) throw new HarnessError(`could not remove ${errors.join("; ")}`, { code: "E_STOP_FAILED" });
  }

  /** The node's image if it has it (and `pull` is not "always"); else the harness host's (built there for `build`), shipped; else pulled on the node. */
  async #resolveImage(service: PlannedService, runId: string): Promise<void> {
    const target = dockerOf(service);
    const engine = await this.#engine(service);
    const label = this.#connection(service).label;
    const signal = new AbortController().signal;
    if (target.build) {
      const ref = builtTag(runId, service.name);
      const local = await this.#localEngine([service.name]);
      this.#built.add(ref);
      this.#state?.record({ kind: "docker-image", id: ref });
      await buildImage(local.docker, { ...target.build, tag: ref, labels: { [RUN_LABEL]: runId, [SERVICE_LABEL]: service.name } }, service.name, signal);
      await this.#ship(service, local, engine, ref, label);
      // What was shipped is this host's image, byte for byte: its config needs no second look over SSH.
      return this.#ready(service, ref, await findImage(local.docker, ref), label);
    }
    const ref = target.image!;
    // The node's and this host's engines are asked at once: the node's answer is a round trip over SSH.
    const onHost = target.pull === "always" ? undefined : this.#localImage(service.name, ref);
    onHost?.catch(() => {});
    const onNode = await findImage(engine.docker, ref);
    if (onNode && target.pull !== "always") return this.#ready(service, ref, onNode, label);
    const local = await onHost?.catch(() => undefined);
    if (local?.info) {
      await this.#ship(service, local.engine, engine, ref, label);
      return this.#ready(service, ref, local.info, label);
    }
    if (!onNode && target.pull === "never") {
      throw new StartError(`Image "${ref}" of service "${service.name}" is neither on node ${label} nor on this host's engine, and \`pull: "never"\` forbids pulling it`, {
        code: "E_IMAGE_NOT_FOUND",
        service: service.name,
      });
    }
    await pullImage(engine.docker, ref, service.name, onNode !== undefined, signal).catch((error: unknown) => {
      throw new StartError(`Node ${label}: ${(error as Error).message.replace("is not present locally", "is neither on the node nor on this host's engine")}`, {
        code: "E_IMAGE_NOT_FOUND",
        service: service.name,
        cause: error,
      });
    });
    this.#ready(service, ref, await findImage(engine.docker, ref), label);
  }

  #ready(service: PlannedService, ref: string, info: Docker.ImageInspectInfo | undefined, label: string): void {
    if (!info) throw new StartError(`Image "${ref}" of service "${service.name}" vanished from node ${label} after it was made ready`, { code: "E_IMAGE_NOT_FOUND", service: service.name });
    this.#images.set(service.name, { ref, config: info.Config });
  }

  /** `docker save | docker load` between the engines, over the node's SSH connection; recorded, so that the run removes it again. */
  async #ship(service: PlannedService, from: Engine, to: Engine, ref: string, label: string): Promise<void> {
    // Another service of the run may be shipping it to the same node already.
    const placed = this.#placed.get(label) ?? new Map<string, Promise<void>>();
    this.#placed.set(label, placed);
    let shipping = placed.get(ref);
    if (!shipping) {
      const remote = remoteOf(service);
      this.#state?.record({ kind: NODE_IMAGE, id: `${label} ${ref}`, ref, node: nodeForState(remote.host, remote.user, remote.ssh) });
      shipping = shipImage(from.docker, to.docker, ref, { service: service.name, node: label }).then(() => {});
      placed.set(ref, shipping);
    }
    await shipping;
  }

  #engine(service: PlannedService): Promise<Engine> {
    const connection = this.#connection(service);
    let engine = this.#engines.get(connection.label);
    if (!engine) {
      engine = (async () => {
        await connection.connect();
        return connectNodeEngine(connection, [service.name]);
      })();
      // A failed connect is reported to each service that needs the node, and again on the next try.
      engine.catch(() => this.#engines.delete(connection.label));
      this.#engines.set(connection.label, engine);
    }
    return engine;
  }

  /** This host's engine and its image `ref` (`info` undefined when it has none). */
  async #localImage(service: string, ref: string): Promise<{ engine: Engine; info: Docker.ImageInspectInfo | undefined }> {
    const engine = await this.#localEngine([service]);
    return { engine, info: await findImage(engine.docker, ref) };
  }

  #localEngine(services: readonly string[]): Promise<Engine> {
    this.#local ??= connectEngine(services);
    this.#local.catch(() => (this.#local = undefined));
    return this.#local;
  }

  #connection(service: PlannedService): SshConnection {
    return this.#connectionOf(service.name, remoteOf(service));
  }

  #connectionOf(name: string, target: RemoteTarget): SshConnection {
    let connection = this.#connections.get(name);
    if (!connection) {
      connection = this.pool.acquire(resolveDestination(target.host, target.user, target.ssh, name), name);
      this.#connections.set(name, connection);
    }
    return connection;
  }
}

function remoteOf(service: PlannedService): RemoteTarget {
  return remoteOfSpec(service.spec);
}

function remoteOfSpec(service: ServiceSpec): RemoteTarget {
  return targetOptions(service, "remote_lan", "wireguard");
}

/** The node a service runs on, as its connection names it (user@host:port): services of one node share its ports. */
function nodeLabel(service: ServiceSpec): string {
  const target = remoteOfSpec(service);
  return describeDestination(resolveDestination(target.host, target.user, target.ssh, service.name));
}

function dockerOf(service: PlannedService): DockerTarget {
  const docker = remoteOf(service).docker;
  if (!docker) throw new HarnessError(`meshbed: service "${service.name}" runs no container (a bug in meshbed: please report it)`, { code: "E_INTERNAL", service: service.name });
  return docker;
}

/** The ports published on the node when `gatherFacts` decided none (a plan made elsewhere): each at its own number unless a node port is given. */
export function nodePorts(service: PlannedService): HostMapping[] {
  const target = dockerOf(service);
  const result: HostMapping[] = [];
  if (service.port !== undefined) result.push({ host: service.port, container: service.port });
  for (const p of target.ports) {
    if (p.container === service.port) continue;
    result.push({ host: p.host ?? p.container, container: p.container });
  }
  return result;
}
