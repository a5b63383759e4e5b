import type { TargetKind } from "../topology/types.js";
import type { Runtime } from "./runtime.js";
import { HarnessError } from "../errors.js";

const modules = new Map<string, Promise<unknown>>();

/**
 * A runtime's module, imported on its first use and then kept: a second `import()` is cheap in
 * plain Node, but under a loader hook (tsx, ts-node) each one is a round trip to the hook's thread
 * (about 0.4 ms here, a tenth of a whole one-process start).
 */
function imported<T>(file: string, load: () => Promise<T>): Promise<T> {
  let module = modules.get(file) as Promise<T> | undefined;
  if (!module) {
    module = load();
    modules.set(file, module);
    module.catch(() => modules.delete(file));
  }
  return module;
}

/** Imports a runtime only when a topology uses its target: one line per runtime. */
export async function loadRuntime(kind: TargetKind): Promise<Runtime> {
  switch (kind) {
    case "process":
      return new (await imported("process", () => import("./process/process-runtime.js"))).ProcessRuntime();
    case "docker":
      return new (await imported("docker", () => import("./docker/docker-runtime.js"))).DockerRuntime();
    case "remote_lan":
      return new (await imported("ssh", () => import("./ssh/ssh-runtime.js"))).SshRuntime("remote_lan", undefined, loadNodeContainers);
    // The mesh that wireguard nodes are reached through is the harness's (network set-up, not a runtime).
    case "wireguard":
      return new (await imported("ssh", () => import("./ssh/ssh-runtime.js"))).SshRuntime("wireguard", undefined, loadNodeContainers);
    default:
      throw new HarnessError(`meshbed: the "${kind}" target is not available in this version`, { code: "E_RUNTIME_UNAVAILABLE" });
  }
}

/** Containers on nodes' engines (the `docker` option of remote_lan and wireguard): the docker runtime's container code, handed to the SSH runtime. */
async function loadNodeContainers(kind: "remote_lan" | "wireguard"): Promise<Runtime> {
  return new (await imported("node-docker", () => import("./docker/node-docker-runtime.js"))).NodeDockerRuntime(kind);
}
