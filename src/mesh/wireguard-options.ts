import type { RemoteBinaryOptions, RemoteDockerOptions, RemotePackageOptions, RemoteTarget } from "../runtimes/ssh/ssh-options.js";
import { REMOTE_KEYS, validateRemoteOptions } from "../runtimes/ssh/ssh-options.js";
import { type At, expected, optionalString } from "../topology/validate.js";

interface WireguardExtra {
  /**
   * The node's WireGuard private key (`wg genkey` form), when it must keep one it has already.
   * Default: a new X25519 key, made for the run. It is written only to the node (0600).
   */
  wireguardKey?: string;
}

/**
 * A service on a remote node that the harness reaches only through the WireGuard mesh, over SSH:
 * a `binary` already there, a `package`, or a container on its engine (`docker`). Its peers reach it at its mesh address.
 */
export type WireguardOptions<Names extends string = string> = (RemoteBinaryOptions<Names> | RemotePackageOptions<Names> | RemoteDockerOptions<Names>) & WireguardExtra;

export const WIREGUARD_KEYS = [...REMOTE_KEYS, "wireguardKey"] as const;

/** Target options of a wireguard service, after validation: a remote service's, and its node's key if it keeps one. */
export type WireguardTarget = RemoteTarget & { wireguardKey?: string };

export function validateWireguardOptions(options: Record<string, unknown>, at: At): { args: string[]; options: WireguardTarget; env?: Record<string, string> } {
  const { wireguardKey, ...remote } = options;
  const key = optionalString(wireguardKey, at.child("wireguardKey"));
  if (key !== undefined && !isWireguardKey(key)) expected(at.child("wireguardKey"), "a WireGuard private key (44 characters of base64, as `wg genkey` prints)", "a malformed key");
  const result = validateRemoteOptions(remote, at);
  return { ...result, options: key === undefined ? result.options : { ...result.options, wireguardKey: key } };
}

/** Whether `text` is a WireGuard key as `wg genkey` prints it: 32 bytes in base64. */
export function isWireguardKey(text: string): boolean {
  return /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$/.test(text);
}
