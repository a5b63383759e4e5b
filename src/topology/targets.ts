import { DOCKER_KEYS, validateDockerOptions } from "../runtimes/docker/docker-options.js";
import { PROCESS_KEYS, validateProcessOptions } from "../runtimes/process/process-options.js";
import { REMOTE_KEYS, validateRemoteOptions } from "../runtimes/ssh/ssh-options.js";
import { WIREGUARD_KEYS, validateWireguardOptions } from "../mesh/wireguard-options.js";
import type { TargetKind, TargetOptions } from "./types.js";
import type { At } from "./validate.js";

/** How each target's own options are validated: one line per target. */
export interface TargetOptionsSchema<T extends TargetKind = TargetKind> {
  keys: readonly string[];
  /** `env`: variables the target's options add to the service's `env` (a container's `docker.env` on a node). */
  validate: (options: Record<string, unknown>, at: At) => { args: string[]; options: TargetOptions[T]; env?: Record<string, string> };
}

export const TARGET_SCHEMAS: { [T in TargetKind]?: TargetOptionsSchema<T> } = {
  process: { keys: PROCESS_KEYS, validate: validateProcessOptions },
  docker: { keys: DOCKER_KEYS, validate: validateDockerOptions },
  remote_lan: { keys: REMOTE_KEYS, validate: validateRemoteOptions },
  wireguard: { keys: WIREGUARD_KEYS, validate: validateWireguardOptions },
};
