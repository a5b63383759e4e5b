// The builder holds data (src/topology/topology-data.ts grows it); what starts or plans it is handed
// in (`BuilderActions`), so that this file imports the harness as a type only.
import type { WireguardOptions } from "../mesh/wireguard-options.js";
import type { Plan } from "../plan/plan.js";
import type { DockerOptions } from "../runtimes/docker/docker-options.js";
import type { RemoteLanOptions } from "../runtimes/ssh/ssh-options.js";
import { addService, emptyTopology, withHarnessOptions } from "../topology/topology-data.js";
import type { HarnessOptions, ProcessOptions, StartOptions, TargetKind, TopologySpec } from "../topology/types.js";
import type { At } from "../topology/validate.js";
import type { Harness } from "./harness.js";
import { HarnessError } from "../errors.js";

/** Service name → target, grown by each builder call. */
export type ServiceMap = Record<string, TargetKind>;

/** A name that the topology has already: rejected at compile time. */
type NewName<N extends string, S extends ServiceMap> = N & (string extends N ? unknown : N extends keyof S ? { "meshbed: a service of this name exists already": N } : unknown);

// Options are typed with the known names (for `dependsOn` completions), but only `name` infers `N`
// (`NoInfer`): otherwise a `dependsOn` naming a service defined further down, or options held in a
// `ProcessOptions` variable, would make `N` that other name or `string` (an untyped `services`).
type Names<S extends ServiceMap> = Extract<keyof S, string>;

/**
 * What a builder hands its topology to, given by `Harness.builder()` and `Harness.fromFile()`: the
 * builder is data, and importing the harness from here would make a cycle (harness → builder → harness).
 */
export interface BuilderActions {
  start<S extends ServiceMap>(spec: TopologySpec, options: StartOptions): Promise<Harness<S>>;
  plan(spec: TopologySpec): Promise<Plan>;
}

/**
 * An immutable description of a topology. Every call returns a new builder whose type knows one
 * more service, so `harness.services.api` is typed and a misspelt name does not compile.
 */
export class HarnessBuilder<S extends ServiceMap = {}> {
  readonly #spec: TopologySpec;
  readonly #actions: BuilderActions | undefined;

  private constructor(spec: TopologySpec, actions: BuilderActions | undefined) {
    this.#spec = spec;
    this.#actions = actions;
  }

  /** @internal Use `Harness.builder()`. Without `actions` it only validates (the YAML reader's use): it cannot start or plan. */
  static create(options: HarnessOptions = {}, actions?: BuilderActions): HarnessBuilder<{}> {
    return new HarnessBuilder(emptyTopology(options), actions);
  }

  /** @internal A builder over an already validated topology (from YAML). Use `Harness.fromFile()`. */
  static fromSpec<S extends ServiceMap = ServiceMap>(spec: TopologySpec, actions?: BuilderActions): HarnessBuilder<S> {
    return new HarnessBuilder<S>(spec, actions);
  }

  /** A local process, started in its own process group. */
  process<N extends string>(name: NewName<N, S>, options: ProcessOptions<Names<S> | NoInfer<N>> | ProcessOptions): HarnessBuilder<S & { [K in N]: "process" }> {
    return this.add(name, "process", options);
  }

  /**
   * A container on the harness host's Docker engine, at a fixed address on the run's own network;
   * its `port` (inside the container) is also published on the host.
   */
  docker<N extends string>(name: NewName<N, S>, options: DockerOptions<Names<S> | NoInfer<N>> | DockerOptions): HarnessBuilder<S & { [K in N]: "docker" }> {
    return this.add(name, "docker", options);
  }

  /**
   * A service on a LAN node, over SSH: a `binary` already there, or a `package` uploaded to
   * `<remoteRoot>/<service>/`. Its peers reach it at the node's address.
   */
  remoteLan<N extends string>(name: NewName<N, S>, options: RemoteLanOptions<Names<S> | NoInfer<N>> | RemoteLanOptions): HarnessBuilder<S & { [K in N]: "remote_lan" }> {
    return this.add(name, "remote_lan", options);
  }

  /**
   * A service on a remote node reached over SSH and joined to the harness by the WireGuard mesh
   * (made on demand, with the harness host as its hub): a `binary` already there, or a `package`.
   * Its peers reach it at its mesh address; it reaches them through the hub.
   */
  wireguard<N extends string>(name: NewName<N, S>, options: WireguardOptions<Names<S> | NoInfer<N>> | WireguardOptions): HarnessBuilder<S & { [K in N]: "wireguard" }> {
    return this.add(name, "wireguard", options);
  }

  /** @internal Adds a service of any registered target. */
  add<T extends TargetKind, N extends string>(name: N, target: T, options: unknown, at?: At): HarnessBuilder<S & { [K in N]: T }> {
    return new HarnessBuilder(addService(this.#spec, name, target, options, at), this.#actions);
  }

  /** A copy with other harness options (merged over the current ones). */
  withOptions(options: HarnessOptions): HarnessBuilder<S> {
    return new HarnessBuilder<S>(withHarnessOptions(this.#spec, options), this.#actions);
  }

  /** The validated topology: plain, frozen data. */
  toSpec(): TopologySpec {
    return this.#spec;
  }

  /** Every decision the harness would make — order, ports, addresses, env — without starting anything. */
  plan(): Promise<Plan> {
    return this.#delegate("plan").plan(this.#spec);
  }

  /** Starts every service, in dependency order, and resolves once all are healthy. */
  start(options: StartOptions = {}): Promise<Harness<S>> {
    return this.#delegate("start").start<S>(this.#spec, options);
  }

  #delegate(what: string): BuilderActions {
    if (!this.#actions) throw new HarnessError(`meshbed: this builder cannot ${what}: make it with Harness.builder() or Harness.fromFile()`, { code: "E_CONFIG" });
    return this.#actions;
  }
}
