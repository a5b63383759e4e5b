import { type HarnessError, StartError } from "../errors.js";
import { appendHostKey, checkHostKey, fingerprint, keyTypeOf, knownHostsName, knownKeyTypes } from "./known-hosts.js";
import type { Destination } from "./ssh-destination.js";

/** The names a node's key may be recorded under: `HostKeyAlias`, else its host name and its alias. */
function recordNames(d: Destination): string[] {
  if (d.hostKeyAlias) return [d.hostKeyAlias];
  const names = [knownHostsName(d.hostName, d.port)];
  if (d.alias !== d.hostName) names.push(knownHostsName(d.alias, d.port));
  return names;
}

/**
 * Checks the key a node offered against known_hosts under `strictHostKeyChecking`; adds it for
 * "accept-new". Returns the error that refuses the connection, or undefined to go on.
 */
export function verifyHostKey(d: Destination, blob: Buffer, service?: string): HarnessError | undefined {
  const names = recordNames(d);
  const offered = `${keyTypeOf(blob)} ${fingerprint(blob)}`;
  const host = `${d.hostName}:${d.port}`;
  const files = d.knownHostsFiles.length > 0 ? d.knownHostsFiles.join(", ") : "no known_hosts file";
  const verdict = checkHostKey(d.knownHostsFiles, names, blob);
  switch (verdict.status) {
    case "known":
      return undefined;
    case "revoked":
      return new StartError(`The host key of ${host} (${offered}) is marked @revoked at ${verdict.where}: refusing to connect`, {
        code: "E_SSH_HOST_KEY",
        service,
      });
    case "changed":
      if (d.strictHostKeyChecking === "no") return undefined;
      return new StartError(
        `The host key of ${host} has CHANGED: it offered ${offered}, but ${verdict.where} records ${verdict.recorded}. ` +
          `Someone may be intercepting the connection, or the node was reinstalled; if you expect the change, remove the old key ` +
          `(ssh-keygen -R ${shellWord(names[0]!)} -f ${shellWord(verdict.where.replace(/:\d+$/, ""))}) and connect again`,
        { code: "E_SSH_HOST_KEY", service },
      );
    case "unknown":
      if (d.strictHostKeyChecking === "no") return undefined;
      if (d.strictHostKeyChecking === "accept-new") {
        const file = d.knownHostsFiles[0];
        if (!file) {
          return new StartError(`strictHostKeyChecking "accept-new" needs a known_hosts file to add ${host}'s key to: set \`ssh.knownHostsFile\``, {
            code: "E_SSH_HOST_KEY",
            service,
          });
        }
        appendHostKey(file, names[0]!, blob);
        return undefined;
      }
      return new StartError(
        `The host key of ${host} (${offered}) is not in ${files}` +
          (verdict.otherTypes.length > 0 ? ` (only keys of type ${verdict.otherTypes.join(", ")} are recorded)` : "") +
          `: check the fingerprint and add it (ssh-keyscan -p ${d.port} ${d.hostName} >> ${d.knownHostsFiles[0] ?? "~/.ssh/known_hosts"}), ` +
          `or set \`ssh.strictHostKeyChecking: "accept-new"\``,
        { code: "E_SSH_HOST_KEY", service },
      );
  }
}

/** Host key algorithms with the recorded types first, as OpenSSH orders them. */
export function preferredHostKeyAlgorithms(d: Destination): { prepend: string[] } | undefined {
  const types = knownKeyTypes(d.knownHostsFiles, recordNames(d));
  const algorithms = types.flatMap((t) => (t === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [t]));
  return algorithms.length > 0 ? { prepend: algorithms } : undefined;
}

function shellWord(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./[\]-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
