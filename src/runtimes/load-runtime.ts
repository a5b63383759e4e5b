import type { TargetKind } from "../topology/types.js";
import type { Runtime } from "./runtime.js";
import { HarnessError } from "../errors.js";

/** Imports a runtime only when a topology uses its target: one line per runtime. */
export async function loadRuntime(kind: TargetKind): Promise<Runtime> {
  switch (kind) {
    case "process":
      return new (await import("./process/process-runtime.js")).ProcessRuntime();
    case "docker":
      return new (await import("./docker/docker-runtime.js")).DockerRuntime();
    case "remote_lan":
      return new (await import("./ssh/ssh-runtime.js")).SshRuntime("remote_lan", undefined, loadNodeContainers);
    // The mesh that wireguard nodes are reached through is the harness's (network set-up, not a runtime).
    case "wireguard":
      return new (await import("./ssh/ssh-runtime.js")).SshRuntime("wireguard", undefined, loadNodeContainers);
    default:
      throw new HarnessError(`meshbed: the "${kind}" target is not available in this version`, { code: "E_RUNTIME_UNAVAILABLE" });
  }
}

/** Containers on nodes' engines (the `docker` option of remote_lan and wireguard): the docker runtime's container code, handed to the SSH runtime. */
async function loadNodeContainers(kind: "remote_lan" | "wireguard"): Promise<Runtime> {
  return new (await import("./docker/node-docker-runtime.js")).NodeDockerRuntime(kind);
}
