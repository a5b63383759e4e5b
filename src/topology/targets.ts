import { DOCKER_KEYS, validateDockerOptions } from "../runtimes/docker/docker-options.js";
import { PROCESS_KEYS, validateProcessOptions } from "../runtimes/process/process-options.js";
import { REMOTE_KEYS, validateRemoteOptions } from "../runtimes/ssh/ssh-options.js";
import { WIREGUARD_KEYS, validateWireguardOptions } from "../mesh/wireguard-options.js";
import type { TargetKind } from "./types.js";
import type { At } from "./validate.js";

/** How each target's own options are validated: one line per target. */
export interface TargetOptionsSchema {
  keys: readonly string[];
  validate: (options: Record<string, unknown>, at: At) => { args: string[]; options: Record<string, unknown> };
}

export const TARGET_SCHEMAS: Partial<Record<TargetKind, TargetOptionsSchema>> = {
  process: { keys: PROCESS_KEYS, validate: validateProcessOptions },
  docker: { keys: DOCKER_KEYS, validate: validateDockerOptions },
  remote_lan: { keys: REMOTE_KEYS, validate: validateRemoteOptions },
  wireguard: { keys: WIREGUARD_KEYS, validate: validateWireguardOptions },
};
