import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import SSHConfig from "ssh-config";
import { StartError } from "../errors.js";
import type { SshOptions } from "../runtimes/ssh/ssh-options.js";

export type StrictHostKeyChecking = "yes" | "accept-new" | "no";

/** Where and how to connect, after `~/.ssh/config` and the explicit options are combined. */
export interface Destination {
  /** The host as the user wrote it (an alias, a name or an address). */
  readonly alias: string;
  /** What is connected to (the config's `HostName`, else the alias). */
  readonly hostName: string;
  readonly port: number;
  readonly user: string;
  /** Key files named by the options or the config (tried in order). */
  readonly identityFiles: readonly string[];
  /** Whether `identityFile` was given explicitly (a missing file is then an error, not a skip). */
  readonly identityExplicit: boolean;
  readonly privateKey: string | undefined;
  /** Only the named keys, not the agent's nor the default ones (`IdentitiesOnly`). */
  readonly identitiesOnly: boolean;
  /** The files to check host keys against; the first is where "accept-new" adds them. */
  readonly knownHostsFiles: readonly string[];
  readonly strictHostKeyChecking: StrictHostKeyChecking;
  /** The name host keys are recorded under (`HostKeyAlias`), when not the host name. */
  readonly hostKeyAlias: string | undefined;
  /** Jump hosts, as OpenSSH's `ProxyJump` ("a,b": through a, then b). */
  readonly proxyJump: string | undefined;
  /** The options given, passed on to jump hosts (which otherwise follow their own config). */
  readonly options: Readonly<SshOptions>;
}

/** "user@host:port", for messages and as the key of the connection pool. */
export function describeDestination(d: Destination): string {
  const port = d.port === 22 ? "" : `:${d.port}`;
  const via = d.proxyJump ? ` via ${d.proxyJump}` : "";
  return `${d.user}@${d.hostName}${port}${via}`;
}

/**
 * Resolves `host` as OpenSSH would: explicit options first, then the first value of each keyword
 * in the config file, then defaults. `Match exec` is never run; `Include` is not followed.
 */
export function resolveDestination(host: string, user: string | undefined, options: SshOptions = {}, service?: string): Destination {
  const config = readConfig(options.configFile, service);
  const computed = config ? lowerKeys(config.compute({ Host: host, ...(user ? { User: user } : {}) }, { ignoreCase: true, matchExec: false })) : {};
  const first = (key: string): string | undefined => {
    const value = computed[key];
    return Array.isArray(value) ? value[0] : value;
  };
  const all = (key: string): string[] => {
    const value = computed[key];
    return value === undefined ? [] : Array.isArray(value) ? value : [value];
  };
  const finalUser = user ?? first("user") ?? os.userInfo().username;
  const hostName = expandTokens(first("hostname") ?? host, { h: host, u: finalUser });
  const port = options.port ?? (first("port") ? Number(first("port")) : 22);
  const tokens = { h: hostName, u: finalUser, p: String(port), r: finalUser };
  const identityFiles = options.identityFile ? [options.identityFile] : all("identityfile").map((f) => expandPath(expandTokens(f, tokens)));
  const knownHosts =
    options.knownHostsFile !== undefined
      ? [options.knownHostsFile]
      : first("userknownhostsfile")
        ? first("userknownhostsfile")!
            .split(/\s+/)
            .map((f) => expandPath(expandTokens(f, tokens)))
        : [path.join(os.homedir(), ".ssh", "known_hosts"), path.join(os.homedir(), ".ssh", "known_hosts2"), "/etc/ssh/ssh_known_hosts"];
  const proxyJump = options.proxyJump ?? first("proxyjump");
  return Object.freeze({
    alias: host,
    hostName,
    port,
    user: finalUser,
    identityFiles: identityFiles.map(expandPath),
    identityExplicit: options.identityFile !== undefined,
    privateKey: options.privateKey,
    identitiesOnly: (first("identitiesonly") ?? "no").toLowerCase() === "yes" || options.privateKey !== undefined || options.identityFile !== undefined,
    knownHostsFiles: knownHosts.filter((f) => f !== "/dev/null" && f.toLowerCase() !== "none"),
    strictHostKeyChecking: options.strictHostKeyChecking ?? strictness(first("stricthostkeychecking")),
    hostKeyAlias: first("hostkeyalias"),
    proxyJump: proxyJump && proxyJump.toLowerCase() !== "none" ? proxyJump : undefined,
    options,
  });
}

/**
 * The destination of one jump host of `proxyJump` ("[user@]host[:port]"), resolved through the
 * same config; explicit keys and host-key settings of the service apply to it too.
 */
export function resolveJump(spec: string, options: SshOptions, service?: string): Destination {
  const match = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(spec.trim());
  if (!match) {
    throw new StartError(`\`ssh.proxyJump\` ${JSON.stringify(spec)} is not [user@]host[:port]`, { code: "E_SSH_CONNECT", service });
  }
  const [, user, rawHost, port] = match;
  const host = rawHost!.replace(/^\[|\]$/g, "");
  const { proxyJump: _, port: __, ...rest } = options;
  return resolveDestination(host, user, { ...rest, ...(port ? { port: Number(port) } : {}) }, service);
}

function readConfig(file: string | undefined, service: string | undefined): SSHConfig | undefined {
  const configFile = file === undefined ? path.join(os.homedir(), ".ssh", "config") : expandPath(file);
  let text: string;
  try {
    text = fs.readFileSync(configFile, "utf8");
  } catch (error) {
    if (file === undefined) return undefined;
    throw new StartError(`The ssh config file ${configFile} (\`ssh.configFile\`) cannot be read: ${(error as Error).message}`, {
      code: "E_SSH_CONNECT",
      service,
      cause: error,
    });
  }
  return SSHConfig.parse(text);
}

function lowerKeys(record: Record<string, string | string[]>): Record<string, string | string[]> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k.toLowerCase(), v]));
}

function strictness(value: string | undefined): StrictHostKeyChecking {
  switch (value?.toLowerCase()) {
    case "no":
    case "off":
      return "no";
    case "accept-new":
      return "accept-new";
    default:
      return "yes";
  }
}

/** `~` and `~/…` of the local user. */
export function expandPath(file: string): string {
  if (file === "~") return os.homedir();
  if (file.startsWith("~/")) return path.join(os.homedir(), file.slice(2));
  return file;
}

/** The few `%` tokens OpenSSH expands in file names and `HostName`. */
function expandTokens(text: string, tokens: Record<string, string>): string {
  return text.replace(/%([%a-zA-Z])/g, (whole, key: string) => {
    if (key === "%") return "%";
    if (key === "d") return os.homedir();
    return tokens[key] ?? whole;
  });
}
