import { setTimeout as sleep } from "node:timers/promises";
import type Docker from "dockerode";
import { StartError } from "../../errors.js";
import { interpolate } from "../../plan/interpolate.js";
import type { PlannedService } from "../../plan/plan.js";
import type { ExitInfo, RunningService, RuntimeContext } from "../runtime.js";
import { execIn, imageHealthcheck } from "./container-exec.js";
import { putContainerFiles } from "./container-files.js";
import { followContainerLogs, pollContainerLogs } from "./container-logs.js";
import { containerTarget } from "./container-target.js";
import { engineMessage, statusOf } from "./engine.js";
import { removeContainer } from "./remove-container.js";
import type { HostMapping } from "./published-ports.js";
import { RUN_LABEL, SERVICE_LABEL } from "./run-network.js";

/** What the runtime decided for one container before it is created. */
export interface ContainerLaunch {
  readonly docker: Docker;
  readonly runId: string;
  /** The run network and the container's fixed address on it; undefined: the engine's default bridge (a node's engine). */
  readonly network: string | undefined;
  /** Settles when the run network exists; rejects if it could not be made. */
  readonly networkReady: Promise<void>;
  readonly ip: string | undefined;
  readonly image: string;
  readonly imageConfig: Docker.ImageInspectInfo["Config"] | undefined;
  /** Container port → host port, the primary port first. */
  readonly published: readonly HostMapping[];
  /** Where published ports listen: loopback unless nodes of other machines must reach them. */
  readonly bindHost: string;
  /**
   * The service's env file on the harness host, bind-mounted read-only at `HARNESS_ENV_FILE` when the
   * engine is local (no extra API call before start); else the file is copied in with `files`.
   */
  readonly hostEnvFile: string | undefined;
  /** The container's DNS server (the run's, `network.dns`) and its names on the run network (its service's). */
  readonly dns?: { readonly server: string; readonly aliases: readonly string[] } | undefined;
  /**
   * The container, when the runtime created it ahead (in `prepare`, while the network was made and
   * earlier dependency levels started); else `startContainer` creates it.
   */
  readonly created?: Promise<Docker.Container>;
  /**
   * How the run's state records the container, for the reaper of its engine: `docker-container` on the
   * harness host's engine (the default), another kind (with what it needs to reach the engine) on a node's.
   */
  readonly record?: { kind: string; extra: Record<string, unknown> };
  /** Where the engine runs, for messages: "this host" (the default), "node root@10.0.0.5:22". */
  readonly where?: string;
  /** The node whose engine runs the container (for `status()`), if not the harness host's. */
  readonly node?: string;
  /**
   * An engine reached over a connection with few channels (a node's, over SSH): the container's exit
   * is polled rather than awaited on a request held open, and its log is followed only on a channel
   * the connection can spare (`reserveStream`), else polled.
   */
  readonly channels?: { reserveStream(): (() => void) | undefined; pollMs: number };
}

/** How long the log stream may lag behind the container's exit before it is cut. */
const LOG_DRAIN_MS = 2_000;

export function containerName(runId: string, service: string): string {
  return `mb-${runId}-${service}`;
}

/** The image's ENTRYPOINT override, interpolated like the service's args. */
export function entrypointOf(service: PlannedService): string[] | undefined {
  const target = containerTarget(service.spec);
  if (target.entrypoint === undefined) return undefined;
  const argv = target.entrypoint.map((a, i) => interpolate(a, [service.env, process.env], { service: service.name, field: `entrypoint[${i}]` }));
  // The engine reads an empty array as "not set"; [""] clears the image's entrypoint, as the CLI does.
  return argv.length === 0 ? [""] : argv;
}

/**
 * Creates (unless it was created ahead) the container on the run network at its planned address, puts
 * its files in, starts it and follows its log. A container that was created is removed again if
 * anything after fails.
 */
export async function startContainer(launch: ContainerLaunch, service: PlannedService, context: RuntimeContext): Promise<RunningService> {
  const target = containerTarget(service.spec);
  const name = containerName(launch.runId, service.name);
  const ports = launch.published;
  const container = await (launch.created ?? createContainer(launch, service));
  const id = container.id;
  const kind = launch.record?.kind ?? "docker-container";
  context.state.record({ kind, service: service.name, id, name, ...launch.record?.extra });
  const remove = async () => {
    // Gone when it returns: a removal already in progress (409) is waited for, or the run network's
    // removal would meet the container's endpoint still there.
    await removeContainer(container);
    context.state.forget(kind, id);
  };
  try {
    await launch.networkReady.catch((error: unknown) => {
      throw new StartError(`${(error as Error).message} (needed by service "${service.name}")`, {
        code: "E_DOCKER_NETWORK",
        service: service.name,
        cause: error,
      });
    });
    // Copying files in costs the engine a mount of the container's file system: only when there are any.
    if (Object.keys(target.files).length > 0 || !launch.hostEnvFile) {
      await putContainerFiles(container, service, target.files, launch.imageConfig?.User, !launch.hostEnvFile);
    }
    await container.start().catch((error: unknown) => {
      throw startFailed(service, error, launch.where ?? "this host");
    });
  } catch (error) {
    await remove().catch(() => {});
    throw error;
  }
  // Not awaited: the probe need not wait for the engine to answer the follow (the log replays from
  // the container's first line whenever the follow opens).
  const { channels } = launch;
  const stream = channels?.reserveStream();
  const following = (channels && !stream ? Promise.resolve(pollContainerLogs(container, context.log, channels.pollMs)) : followContainerLogs(container, context.log)).catch(() => undefined);
  const exited = (channels ? pollExit(container, channels.pollMs) : waitExit(container)).then(async (info) => {
    const logs = await following;
    await Promise.race([logs?.ended, sleep(LOG_DRAIN_MS, undefined, { ref: false })]);
    logs?.close();
    stream?.();
    context.log.flush();
    return info;
  });
  const exec = (argv: readonly string[], signal: AbortSignal) => execIn(container, argv, signal, context);
  const healthcheck = service.spec.health === undefined ? imageHealthcheck(launch.imageConfig) : undefined;
  let paused = false;
  return {
    exited,
    info: () => ({
      containerId: id.slice(0, 12),
      publishedPorts: Object.fromEntries(ports.map((p) => [p.container, p.host])),
      ...(launch.node !== undefined && { node: launch.node }),
    }),
    exec,
    ...(healthcheck && {
      nativeHealth: async (signal: AbortSignal) => {
        const state = (await container.inspect({ abortSignal: signal })).State;
        if (state.Health?.Status === "healthy") return true;
        // The engine runs the first check only after the image's interval (30 s by default):
        // running the same test now makes a ready container healthy within milliseconds.
        return (await exec(healthcheck, signal)) === 0;
      },
    }),
    kill: async (signal) => {
      await container.kill({ signal }).catch((error: unknown) => {
        if (statusOf(error) !== 404 && statusOf(error) !== 409) throw error;
      });
    },
    pause: async () => {
      await container.pause();
      paused = true;
    },
    resume: async () => {
      await container.unpause();
      paused = false;
    },
    stop: async (graceMs) => {
      // A paused container cannot be stopped.
      if (paused) await container.unpause().catch(() => {});
      try {
        await container.stop({ t: Math.max(1, Math.ceil(graceMs / 1000)) });
      } catch (error) {
        // 304: already stopped; 404: already gone.
        if (statusOf(error) !== 304 && statusOf(error) !== 404) {
          await container.kill().catch((e: unknown) => {
            if (statusOf(e) !== 404 && statusOf(e) !== 409) throw e;
          });
        }
      }
      await remove();
      await exited;
    },
  };
}

/**
 * Creates the service's container (not started), with everything the plan decided: its env, its
 * address on the run network, its published ports, its labels. Needs only the plan and the image.
 */
export function createContainer(launch: ContainerLaunch, service: PlannedService): Promise<Docker.Container> {
  const target = containerTarget(service.spec);
  const ports = launch.published;
  const options: Docker.ContainerCreateOptions = {
    name: containerName(launch.runId, service.name),
    Image: launch.image,
    Env: Object.entries(service.env).map(([key, value]) => `${key}=${value}`),
    Cmd: target.hasCommand ? [...service.args] : undefined,
    Entrypoint: entrypointOf(service),
    Labels: { [RUN_LABEL]: launch.runId, [SERVICE_LABEL]: service.name },
    ExposedPorts: Object.fromEntries(ports.map((p) => [`${p.container}/tcp`, {}])),
    HostConfig: {
      NetworkMode: launch.network ?? "bridge",
      Init: target.init,
      // `Mounts` (unlike `Binds`) refuses a missing source instead of creating a directory there.
      Mounts: launch.hostEnvFile ? [{ Type: "bind", Source: launch.hostEnvFile, Target: service.envFile, ReadOnly: true }] : [],
      PortBindings: Object.fromEntries(ports.map((p) => [`${p.container}/tcp`, [{ HostIp: launch.bindHost, HostPort: String(p.host) }]])),
      ...(launch.dns && { Dns: [launch.dns.server] }),
    },
    ...(launch.network !== undefined && {
      NetworkingConfig: { EndpointsConfig: { [launch.network]: { IPAMConfig: { IPv4Address: launch.ip }, ...(launch.dns && { Aliases: [...launch.dns.aliases] }) } } },
    }),
  };
  return create(launch.docker, options, launch, service.name);
}

/**
 * Creates the container, while the run network may still be in the making: Docker 20.10 checks the
 * network only at start. An engine that checks it at create gets the same request once it exists.
 */
async function create(docker: Docker, options: Docker.ContainerCreateOptions, launch: ContainerLaunch, service: string): Promise<Docker.Container> {
  const { runId } = launch;
  try {
    return await docker.createContainer(options);
  } catch (firstError) {
    let error = firstError;
    if (statusOf(error) === 404 && /network/i.test(engineMessage(error))) {
      await launch.networkReady.catch(() => {});
      try {
        return await docker.createContainer(options);
      } catch (retryError) {
        error = retryError;
      }
    }
    if (statusOf(error) !== 409) throw createFailed(service, error);
  }
  // A container of this name is left from an earlier start of this run (a stop that failed): replace it.
  const stale = docker.getContainer(options.name!);
  const labels = (await stale.inspect()).Config.Labels ?? {};
  if (labels[RUN_LABEL] !== runId) {
    throw new StartError(`A container named ${options.name} exists and is not of this run: remove it, or use another runId`, {
      code: "E_SPAWN_FAILED",
      service,
    });
  }
  await stale.remove({ force: true, v: true });
  try {
    return await docker.createContainer(options);
  } catch (error) {
    throw createFailed(service, error);
  }
}

function createFailed(service: string, error: unknown): StartError {
  return new StartError(`The container of service "${service}" could not be created: ${engineMessage(error)}`, {
    code: "E_SPAWN_FAILED",
    service,
    cause: error,
  });
}

function startFailed(service: PlannedService, error: unknown, where: string): StartError {
  const why = engineMessage(error);
  if (/port is already allocated|address already in use/i.test(why)) {
    return new StartError(`A port that service "${service.name}" publishes is already in use on ${where} (${why}): stop what holds it, or publish another port`, {
      code: "E_PORT_IN_USE",
      service: service.name,
      cause: error,
    });
  }
  return new StartError(`The container of service "${service.name}" did not start${where === "this host" ? "" : ` on ${where}`}: ${why}`, {
    code: "E_SPAWN_FAILED",
    service: service.name,
    cause: error,
  });
}

/** Resolves when the container is no longer running; never rejects. */
async function waitExit(container: Docker.Container): Promise<ExitInfo> {
  try {
    // "not-running" after start: a container that has already exited answers at once.
    const result = (await container.wait({ condition: "not-running" })) as { StatusCode?: number };
    return { code: result.StatusCode ?? null, signal: null };
  } catch {
    const state = await container.inspect().then(
      (i) => i.State,
      () => undefined,
    );
    return { code: state?.ExitCode ?? null, signal: null };
  }
}

/** Resolves when the container is no longer running, polled every `everyMs`; never rejects. */
async function pollExit(container: Docker.Container, everyMs: number): Promise<ExitInfo> {
  for (;;) {
    const state = await container.inspect().then(
      (i) => i.State,
      (error: unknown) => (statusOf(error) === 404 ? undefined : "unknown"),
    );
    // Gone: removed (by stop, or by someone else).
    if (state === undefined) return { code: null, signal: null };
    if (state !== "unknown" && !state.Running) return { code: state.ExitCode ?? null, signal: null };
    await sleep(everyMs, undefined, { ref: false });
  }
}
