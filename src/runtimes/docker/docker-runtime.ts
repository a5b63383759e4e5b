import path from "node:path";
import { debugFor } from "../../debug.js";
import { StartError } from "../../errors.js";
import { freePort } from "../../host/ports.js";
import { hostRoutes } from "../../host/routes.js";
import type { Plan, PlannedService } from "../../plan/plan.js";
import { DEFAULT_MESH_SUBNET } from "../../topology/harness-options.js";
import { targetOptions } from "../../topology/target-options.js";
import type { ServiceSpec } from "../../topology/types.js";
import type { RunState } from "../../state/run-state.js";
import type { FactsContext, FactsContribution, RunningService, Runtime, RuntimeContext } from "../runtime.js";
import { removeContainer } from "./remove-container.js";
import { checkHostFiles } from "./container-files.js";
import { type ContainerLaunch, createContainer, entrypointOf, startContainer } from "./container.js";
import type { DockerTarget } from "./docker-options.js";
import { type Engine, connectEngine, engineMessage } from "./engine.js";
import { buildImage, builtTag, findImage, pullImage, removeImage } from "./images.js";
import { type HostMapping, checkFixedHostPorts, publishedPorts } from "./published-ports.js";
import { type PlannedNetwork, RUN_LABEL, SERVICE_LABEL, createNetwork, planNetwork, removeNetwork } from "./run-network.js";
import { HarnessError } from "../../errors.js";

const log = debugFor("docker");

interface ResolvedImage {
  ref: string;
  config: import("dockerode").ImageInspectInfo["Config"] | undefined;
}

/**
 * Containers on the harness host's Docker engine, each at a fixed address on the run's own bridge
 * network (`mb-<runId>`), its port also published on the host. Everything it creates carries the
 * label `meshbed.run=<runId>`.
 */
export class DockerRuntime implements Runtime {
  readonly kind = "docker" as const;
  #engine: Engine | undefined;
  #runId: string | undefined;
  #network: PlannedNetwork | undefined;
  #networkId: string | undefined;
  /** Settles once the network exists (or could not be made); containers are created meanwhile. */
  #networkReady: Promise<void> | undefined;
  /** Service → the image it runs, known after `prepare`. */
  readonly #images = new Map<string, ResolvedImage>();
  /** Service → the ports it publishes (container → host), its primary port first. */
  readonly #published = new Map<string, HostMapping[]>();
  /** Service → its container, created in `prepare` for its first start. */
  readonly #created = new Map<string, Promise<import("dockerode").Container>>();
  /** Tags of images this run built: removed by `dispose`. */
  readonly #built = new Set<string>();
  #state: RunState | undefined;

  async gatherFacts(services: readonly ServiceSpec[], context: FactsContext): Promise<FactsContribution> {
    const names = services.map((s) => s.name);
    // The ping goes out first; `ip route` (a spawn blocks the event loop for ms) runs while the engine answers.
    const connecting = this.#connect(names);
    const routes = hostRoutes();
    const engine = await connecting;
    this.#runId = context.runId;
    const mesh = context.spec.options.network?.wireguardSubnet ?? DEFAULT_MESH_SUBNET;
    this.#network = await planNetwork(engine.docker, context.runId, names, [mesh], routes);

    const taken = new Set(context.takenPorts);
    await checkFixedHostPorts(services, taken);
    const pick = async () => {
      const port = await freePort(taken);
      taken.add(port);
      return port;
    };
    const ports: Record<string, number> = {};
    const hostPorts: Record<string, number> = {};
    for (const service of services) {
      const published = await publishedPorts(service, pick);
      this.#published.set(service.name, published);
      const primary = published[0];
      if (primary === undefined) continue;
      hostPorts[service.name] = primary.host;
      if (service.port !== primary.container) ports[service.name] = primary.container;
    }
    return {
      ports,
      hostPorts,
      ips: Object.fromEntries(names.map((n) => [n, { containerIp: this.#network!.ips[n]! }])),
      addresses: { containerGateway: this.#network.gateway },
    };
  }

  async preflight(service: PlannedService): Promise<void> {
    const target = targetOf(service);
    checkHostFiles(service, target.files);
    entrypointOf(service);
    if (target.image !== undefined && target.pull === "never") {
      const found = await findImage(this.#docker(), target.image);
      if (!found) {
        throw new StartError(
          `Image "${target.image}" of service "${service.name}" is not present locally and \`pull: "never"\` forbids pulling it: build it (\`docker build -t ${target.image} …\`), load it (\`docker load -i image.tar\`), or allow \`pull: "missing"\``,
          { code: "E_IMAGE_NOT_FOUND", service: service.name },
        );
      }
    }
  }

  /**
   * Pulls or builds every image (a missing one fails the run before anything starts) and begins
   * creating the run network, which each container waits for only just before it starts: the engine
   * creates containers, and other targets start their services, while the network is made.
   * Every container is created here too, as soon as its image is ready: a service of a later
   * dependency level then costs only its start once its dependencies are healthy.
   */
  async prepare(plan: Plan): Promise<void> {
    const services = Object.values(plan.services).filter((s) => s.target === "docker");
    const signal = new AbortController().signal;
    this.#networkReady = createNetwork(this.#docker(), this.#plannedNetwork(), plan.runId, undefined).then((id) => {
      this.#networkId = id;
      this.#state?.record({ kind: "docker-network", id, name: this.#network?.name });
    });
    // Awaited by each start and by dispose; not a rejection nobody handles meanwhile.
    this.#networkReady.catch(() => {});
    const results = await Promise.allSettled(services.map((s) => this.#resolveImage(s, plan.runId, signal).then(() => this.#createAhead(s, plan))));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failure) throw failure.reason;
  }

  async start(service: PlannedService, context: RuntimeContext): Promise<RunningService> {
    this.#recordRunResources(context.state);
    const launch = this.#launch(service, context.plan);
    // Created ahead for the first start only: a restart creates a new one.
    const created = this.#created.get(service.name);
    this.#created.delete(service.name);
    log(`start ${service.name}: image ${launch.image}, network ${launch.network} at ${launch.ip}, env ${Object.keys(service.env).join(",")}${created ? ", created ahead" : ""}`);
    return startContainer({ ...launch, ...(created && { created }) }, service, context);
  }

  /** Everything the plan and `prepare` decided for the service's container. */
  #launch(service: PlannedService, plan: Plan): ContainerLaunch {
    const image = this.#images.get(service.name);
    if (!image || !this.#network || !this.#networkReady) {
      throw new HarnessError(`meshbed: docker service "${service.name}" started before the runtime was prepared (a bug in meshbed: please report it)`, {
        code: "E_INTERNAL",
        service: service.name,
      });
    }
    const remote = Object.values(plan.services).some((s) => s.placement.location === "lan" || s.placement.location === "wireguard");
    return {
      docker: this.#docker(),
      runId: plan.runId,
      network: this.#network.name,
      networkReady: this.#networkReady,
      ip: this.#network.ips[service.name]!,
      image: image.ref,
      imageConfig: image.config,
      published: this.#published.get(service.name) ?? [],
      bindHost: remote ? "0.0.0.0" : "127.0.0.1",
      hostEnvFile: this.#engine!.local ? path.resolve(service.dir, "service.env") : undefined,
      dns: dnsOf(service, plan),
    };
  }

  /**
   * Creates the container now, for `start` to use. A container created but never started (the run
   * failed first) carries the run's label: `dispose`, or the reaper after a crash, removes it.
   */
  #createAhead(service: PlannedService, plan: Plan): void {
    const created = createContainer(this.#launch(service, plan), service);
    // Awaited by `start`; a service never started must not leave a rejection nobody handles.
    created.catch(() => {});
    this.#created.set(service.name, created);
  }

  async dispose(): Promise<void> {
    if (!this.#engine || this.#runId === undefined) return;
    const docker = this.#engine.docker;
    const errors: string[] = [];
    // A network still being made would be left behind.
    await this.#networkReady?.catch(() => {});
    // Nor may a container still being created ahead for a service that never started.
    await Promise.allSettled(this.#created.values());
    this.#created.clear();
    const leftovers = await docker.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${this.#runId}`] } });
    for (const info of leftovers) {
      await removeContainer(docker.getContainer(info.Id))
        .then(() => this.#state?.forget("docker-container", info.Id))
        .catch((error: unknown) => errors.push(`container ${info.Names[0] ?? info.Id}: ${engineMessage(error)}`));
    }
    if (this.#networkId !== undefined) {
      const id = this.#networkId;
      await removeNetwork(docker, id)
        .then(() => {
          this.#state?.forget("docker-network", id);
          this.#networkId = undefined;
        })
        .catch((error: unknown) => errors.push(`network ${this.#network?.name}: ${engineMessage(error)}`));
    }
    for (const tag of this.#built) {
      await removeImage(docker, tag)
        .then(() => {
          this.#state?.forget("docker-image", tag);
          this.#built.delete(tag);
        })
        .catch((error: unknown) => errors.push(`image ${tag}: ${engineMessage(error)}`));
    }
    if (errors.length > 0) throw new HarnessError(`could not remove ${errors.join("; ")}`, { code: "E_STOP_FAILED" });
  }

  async #connect(services: readonly string[]): Promise<Engine> {
    this.#engine ??= await connectEngine(services);
    return this.#engine;
  }

  #docker() {
    if (!this.#engine) throw new HarnessError("meshbed: the docker runtime was used before its facts were gathered (a bug in meshbed: please report it)", { code: "E_INTERNAL" });
    return this.#engine.docker;
  }

  #plannedNetwork(): PlannedNetwork {
    if (!this.#network) throw new HarnessError("meshbed: the docker runtime was prepared before its facts were gathered (a bug in meshbed: please report it)", { code: "E_INTERNAL" });
    return this.#network;
  }

  async #resolveImage(service: PlannedService, runId: string, signal: AbortSignal): Promise<void> {
    const docker = this.#docker();
    const target = targetOf(service);
    let ref: string;
    if (target.build) {
      ref = builtTag(runId, service.name);
      this.#built.add(ref);
      const labels = { [RUN_LABEL]: runId, [SERVICE_LABEL]: service.name };
      await buildImage(docker, { ...target.build, tag: ref, labels }, service.name, signal);
    } else {
      ref = target.image!;
      const local = await findImage(docker, ref);
      if (local && target.pull !== "always") {
        this.#images.set(service.name, { ref, config: local.Config });
        return;
      }
      if (!local && target.pull === "never") {
        throw new StartError(`Image "${ref}" of service "${service.name}" is not present locally and \`pull: "never"\` forbids pulling it`, {
          code: "E_IMAGE_NOT_FOUND",
          service: service.name,
        });
      }
      await pullImage(docker, ref, service.name, local !== undefined, signal);
    }
    const info = await findImage(docker, ref);
    if (!info) throw new StartError(`Image "${ref}" of service "${service.name}" vanished after it was made ready`, { code: "E_IMAGE_NOT_FOUND", service: service.name });
    this.#images.set(service.name, { ref, config: info.Config });
  }

  /** The network and built images, recorded once the run's state can be written (at the first start). */
  #recordRunResources(state: RunState): void {
    if (this.#state) return;
    this.#state = state;
    if (this.#networkId !== undefined) state.record({ kind: "docker-network", id: this.#networkId, name: this.#network?.name });
    for (const tag of this.#built) state.record({ kind: "docker-image", id: tag });
  }
}

function targetOf(service: PlannedService): DockerTarget {
  return targetOptions(service.spec, "docker");
}

/**
 * The run's DNS server for a container (Docker's `Dns` takes an address, so port 53 only), and its
 * service name as its alias on the run network, which Docker's embedded DNS answers itself: left out
 * when a container reaches the service through a fault proxy, which only the run's server answers.
 */
function dnsOf(service: PlannedService, plan: Plan): ContainerLaunch["dns"] {
  const server = plan.dns?.serverOf[service.name];
  if (plan.dns?.port !== 53 || server === undefined) return undefined;
  const proxied = plan.proxies.some((p) => p.target === service.name && plan.services[p.caller]?.placement.location === "container");
  return { server, aliases: proxied ? [] : [service.name] };
}
