import { ConfigError, HarnessError } from "../errors.js";
import type { MeshControl } from "../mesh/mesh-control.js";
import { type BuilderActions, HarnessBuilder, type ServiceMap } from "./builder.js";
import type { HarnessEvent, HarnessOptions, StartOptions, TopologySpec } from "../topology/types.js";
import { loadTopologyFile } from "../topology/yaml.js";
import { type HarnessDescriptor, type Registry, registryOf } from "../plan/descriptor.js";
import { planTopology } from "./gather-facts.js";
import { HarnessFaults } from "./harness-faults.js";
import type { EdgeFaults } from "../faults/edge-faults.js";
import type { Plan } from "../plan/plan.js";
import { AttachedRun } from "./attached-run.js";
import { attachOrStart, isReuseOwner, recordReusable } from "./reuse.js";
import { type ServiceControl, ServiceHandle } from "./service-handle.js";
import { startRun } from "./start.js";

/** @internal What a `Harness` wraps: a run it started (run.ts), or one another process owns that it attached to (attached-run.ts). */
export interface HarnessRun {
  readonly plan: Plan;
  readonly controllers: ReadonlyMap<string, ServiceControl>;
  readonly faults: EdgeFaults | undefined;
  readonly partitions: { partition(a: readonly string[], b: readonly string[]): Promise<void>; heal(): Promise<void> };
  readonly mesh: MeshControl | undefined;
  readonly status: { readonly url: string } | undefined;
  readonly events: { subscribe(listener: (event: HarnessEvent) => void): () => void };
  stop(): Promise<void>;
}

export type ServiceHandles<S extends ServiceMap> = { readonly [K in keyof S & string]: ServiceHandle<K> };

/** A started topology. Stop it with `stop()` or `await using`. */
export class Harness<S extends ServiceMap = ServiceMap> implements AsyncDisposable {
  readonly runId: string;
  readonly services: ServiceHandles<S>;
  /** Faults on single edges (latency, bandwidth, timeout, reset, slicer) declared before start: see `HarnessFaults`. */
  readonly faults: HarnessFaults<keyof S & string>;
  /**
   * Whether this harness is attached to a run another process owns (`reuse: true`): its `stop()`
   * detaches, and what would change the run throws `E_ATTACHED`.
   */
  readonly attached: boolean;
  readonly #run: HarnessRun;

  /** @internal Use `Harness.builder()…start()`. */
  constructor(run: HarnessRun, signal: AbortSignal) {
    this.#run = run;
    this.runId = run.plan.runId;
    this.attached = run instanceof AttachedRun;
    const services: Record<string, ServiceHandle> = {};
    for (const [name, controller] of run.controllers) services[name] = new ServiceHandle(controller, signal);
    this.services = Object.freeze(services) as ServiceHandles<S>;
    this.faults = run.faults ? new HarnessFaults(run.faults) : (attachedFaults(this.runId) as HarnessFaults<keyof S & string>);
  }

  /** Starts describing a topology. */
  static builder(options?: HarnessOptions): HarnessBuilder<{}> {
    return HarnessBuilder.create(options, BUILDER_ACTIONS);
  }

  /** A builder for the topology of a `services.yaml` (the ADR's format). */
  static fromFile(file: string): HarnessBuilder<ServiceMap> {
    return Harness.fromSpec(loadTopologyFile(file));
  }

  /** @internal A builder over an already validated topology (`parseTopology`'s). */
  static fromSpec<S extends ServiceMap = ServiceMap>(spec: TopologySpec): HarnessBuilder<S> {
    return HarnessBuilder.fromSpec<S>(spec, BUILDER_ACTIONS);
  }

  /** The handle of a service by name (for names only known at run time). */
  service<K extends keyof S & string>(name: K): ServiceHandle<K> {
    const handle = this.services[name];
    if (!handle) {
      throw new ConfigError(`There is no service "${name}" in this topology (${Object.keys(this.services).join(", ")})`, {
        code: "E_CONFIG",
        service: name,
      });
    }
    return handle;
  }

  /** The env that service was given: its peers' addresses as it reaches them, and its own values. */
  envFor<K extends keyof S & string>(name: K): Readonly<Record<string, string>> {
    return this.service(name).env;
  }

  /** Every service with its target and every address it has. Plain JSON. */
  registry(): Registry {
    return registryOf(this.#run.plan);
  }

  /** Everything a test needs, as structured-cloneable data (for vitest's `provide`, jest's env). */
  toDescriptor(): HarnessDescriptor {
    const services: HarnessDescriptor["services"] = {};
    const env: HarnessDescriptor["env"] = {};
    for (const handle of Object.values<ServiceHandle>(this.services)) {
      services[handle.name] = {
        name: handle.name,
        target: handle.target,
        addr: handle.addr ?? null,
        host: handle.host ?? null,
        port: handle.port ?? null,
        addresses: { ...handle.addresses },
        envFile: handle.envFile,
      };
      env[handle.name] = { ...handle.env };
    }
    return { runId: this.runId, services, env, registry: this.registry() };
  }

  /**
   * Faults: connections between any service of `groupA` and any of `groupB` fail, both ways, until
   * `heal()`. iptables DROP rules go where the side that connects runs: in the run's own chains on
   * the harness host for processes and containers, inside the node (as root, over its SSH
   * connection) for services on nodes, where every address of the other group's node services is
   * dropped. A process of the harness host is told apart by a cgroup (v2) of the run's that its
   * process group joins at `partition()` (its connections already open by their ports), so the
   * host's other processes — a test's own client — still reach both sides; where cgroup v2 is not
   * writable, by destination only, which cuts them too.
   */
  async partition(groupA: readonly (keyof S & string)[], groupB: readonly (keyof S & string)[]): Promise<void> {
    await this.#run.partitions.partition(groupA, groupB);
    // Proxied fault edges between the groups pass through this process: they stall too.
    this.#run.faults?.stall(groupA, groupB);
  }

  /** Removes every partition (not the faults of `harness.faults`: `harness.faults.heal()` does). */
  async heal(): Promise<void> {
    this.#run.faults?.unstall();
    await this.#run.partitions.heal();
  }

  /**
   * The run's WireGuard mesh (only when the topology has a `wireguard` service): its hub
   * interface, each node's peer status, and `revoke(service)`, which cuts that service's node
   * off the mesh at once.
   */
  get mesh(): MeshControl {
    const mesh = this.#run.mesh;
    if (!mesh) {
      throw new HarnessError(`Run ${this.runId} has no WireGuard mesh: it is made only when the topology has a \`wireguard\` service (and removed when the harness stops)`, {
        code: "E_MESH",
      });
    }
    return mesh;
  }

  /**
   * Where the run serves its status (`network.statusPort`): `"http://127.0.0.1:<port>/"`, with
   * `/health`, `/services`, `/events` (server-sent events) and the status page. Undefined without one.
   */
  get statusUrl(): string | undefined {
    return this.#run.status?.url;
  }

  /** Calls `listener` with every later event of the run (as `onEvent` of `start()` gets them); returns the unsubscribe function. */
  onEvent(listener: (event: HarnessEvent) => void): () => void {
    return this.#run.events.subscribe(listener);
  }

  /**
   * Stops every service (dependents first) and removes what the run created. Runs once. On an
   * attached harness (`reuse: true`, `attached`), detaches instead: the run goes on in the process
   * that owns it, for the next `start()` to attach to, until `meshbed down`.
   */
  stop(): Promise<void> {
    return this.#run.stop();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/**
 * Starts a run and wraps it; its descriptor is written once every service is healthy. With
 * `reuse: true` (in any process but a run's owner), attaches to a live run of the same topology,
 * started first in a detached owner when there is none (reuse.ts).
 */
async function startHarness<S extends ServiceMap>(spec: TopologySpec, options: StartOptions): Promise<Harness<S>> {
  if (spec.options.reuse && !isReuseOwner()) return new Harness<S>(await attachOrStart(spec, options), new AbortController().signal);
  const run = await startRun(spec, options);
  const harness = new Harness<S>(run, new AbortController().signal);
  // Before the descriptor: whoever sees the descriptor finds the records to attach with.
  if (spec.options.reuse) recordReusable(spec, run.plan, run.state, run.controllers);
  run.state.writeDescriptor(harness.toDescriptor());
  return harness;
}

/** `harness.faults` of an attached harness: every method throws `E_ATTACHED`. */
function attachedFaults(runId: string): unknown {
  return new Proxy(
    {},
    {
      get: (_, key) =>
        typeof key === "string"
          ? () => {
              throw new HarnessError(`harness.faults.${key}() is not available on a harness attached to run ${runId} (\`reuse: true\`): declare faults on a harness that owns its run`, {
                code: "E_ATTACHED",
              });
            }
          : undefined,
    },
  );
}

/** What every builder made here starts and plans with. */
const BUILDER_ACTIONS: BuilderActions = { start: startHarness, plan: (spec) => planTopology(spec) };
