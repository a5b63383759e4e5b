import type { CommonServiceOptions } from "../../topology/common-options.js";
import { type At, envRecord, expected, fail, integer, isPlainObject, object, optionalString, string, stringArray } from "../../topology/validate.js";
import { DOCKER_KEYS, type DockerContainerOptions, type DockerTarget, type ImageSource, validateDockerOptions } from "../docker/docker-options.js";

/**
 * How to reach a node over SSH. The names are OpenSSH's own options, and each one overrides what
 * `~/.ssh/config` says for the host.
 */
export interface SshOptions {
  /** Default: the config's `Port`, else 22. */
  port?: number;
  /**
   * A private key file; when given, only it (and `privateKey`) is tried. Default: the config's
   * `IdentityFile`s, then the keys of ssh-agent (`SSH_AUTH_SOCK`), then ~/.ssh/id_ed25519, id_ecdsa, id_rsa.
   */
  identityFile?: string;
  /** A private key itself (OpenSSH or PEM text, unencrypted); when given, only it (and `identityFile`) is tried. */
  privateKey?: string;
  /** Where host keys are checked (and, with "accept-new", added). Default: the config's `UserKnownHostsFile`, else ~/.ssh/known_hosts (and /etc/ssh/ssh_known_hosts). */
  knownHostsFile?: string;
  /** "yes": only known host keys; "accept-new": add unknown ones, refuse changed ones; "no": accept any. Default: the config's, else "yes". */
  strictHostKeyChecking?: "yes" | "accept-new" | "no";
  /** An OpenSSH config file to read instead of ~/.ssh/config. */
  configFile?: string;
  /** Jump hosts, `[user@]host[:port]`, comma-separated, as OpenSSH's `ProxyJump`. Default: the config's. */
  proxyJump?: string;
}

interface RemoteCommonOptions<Names extends string> extends CommonServiceOptions<Names> {
  /** The node: an address, a host name, or an alias of `~/.ssh/config`. */
  host: string;
  /** The account to log in as; not root means `sudo -n` where root is needed. Default: the config's `User`, else the local user name. */
  user?: string;
  /** Where the service's dir (`<remoteRoot>/<service>/`) is made on the node. Default: "/opt/harness". */
  remoteRoot?: string;
  ssh?: SshOptions;
  /**
   * With `network.dns`: point the node's `/etc/resolv.conf` at the run's DNS server while the run
   * lasts (needs root or `sudo -n` there; the old file is recorded and put back at stop, or by
   * `meshbed cleanup` after a crash). Default: false (the node gets `HARNESS_DNS` only).
   */
  dns?: boolean;
}

/** A binary already on the node, run with its env in its own process group. */
export interface RemoteBinaryOptions<Names extends string = string> extends RemoteCommonOptions<Names> {
  /** Path (or name on the node's PATH) of the executable. */
  binary: string;
  /** Arguments; may use `${VAR}` like env values. Default: none. */
  args?: readonly string[];
  package?: never;
  docker?: never;
}

/** A package built by `meshbed pack` (ADR-007 §4), uploaded and run by its scripts. */
export interface RemotePackageOptions<Names extends string = string> extends RemoteCommonOptions<Names> {
  /** A `.tar.gz` made by `pack`, or a package directory (packed on the fly). */
  package: string;
  binary?: never;
  args?: never;
  docker?: never;
}

/**
 * What a container on a node runs: a `docker` service's options without the service-wide ones
 * (`env`, `port`, `health`… stay beside `docker`). `ports` and `port` are published on the node.
 */
export type NodeContainerOptions = Omit<DockerContainerOptions, keyof CommonServiceOptions> &
  ImageSource & {
    /**
     * The container's environment, as `docker run -e`: added to the service's `env` (which may stand
     * beside `docker` too; one variable in both is refused). Values may use `${VAR}` like env values.
     * Default: none.
     */
    env?: Readonly<Record<string, string>>;
  };

/** What `docker` of a node service takes: a docker service's own options, and its `env`. */
const NODE_DOCKER_KEYS = [...DOCKER_KEYS, "env"] as const;

/**
 * A container on the node's own Docker engine, reached over the node's SSH connection (its
 * /var/run/docker.sock). Its `port` is published on the node at the same number.
 */
export interface RemoteDockerOptions<Names extends string = string> extends RemoteCommonOptions<Names> {
  docker: NodeContainerOptions;
  binary?: never;
  args?: never;
  package?: never;
}

/** A service on a node of the LAN, reached over SSH; exactly one of `binary`, `package` and `docker`. */
export type RemoteLanOptions<Names extends string = string> = RemoteBinaryOptions<Names> | RemotePackageOptions<Names> | RemoteDockerOptions<Names>;

export const REMOTE_KEYS = ["host", "user", "binary", "args", "package", "docker", "remoteRoot", "ssh", "dns"] as const;
const SSH_KEYS = ["port", "identityFile", "privateKey", "knownHostsFile", "strictHostKeyChecking", "configFile", "proxyJump"] as const;

/** Target options of a remote service, after validation. */
export interface RemoteTarget {
  host: string;
  user: string | undefined;
  binary: string | undefined;
  package: string | undefined;
  /** A container on the node's engine instead of a binary or package; its `command` is the service's `args`. */
  docker: DockerTarget | undefined;
  remoteRoot: string;
  ssh: Readonly<SshOptions>;
  /** Point the node's resolver at the run's DNS server (`network.dns`). */
  dns: boolean;
}

export function validateRemoteOptions(options: Record<string, unknown>, at: At): { args: string[]; options: RemoteTarget; env?: Record<string, string> } {
  const host = string(options.host, at.child("host"));
  if (/[\s\x00-\x1f]/.test(host) || host.startsWith("-")) expected(at.child("host"), "a host name, an address or an ssh config alias", host);
  const user = optionalString(options.user, at.child("user"));
  if (user !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(user)) expected(at.child("user"), "a user name", user);
  const binary = optionalString(options.binary, at.child("binary"));
  if (binary !== undefined && !binary.startsWith("/") && binary.includes("/")) {
    expected(at.child("binary"), "an absolute path on the node, or a command name on its PATH", binary);
  }
  const pkg = optionalString(options.package, at.child("package"));
  const given = [binary !== undefined && "`binary`", pkg !== undefined && "`package`", options.docker !== undefined && "`docker`"].filter(Boolean);
  if (given.length !== 1) {
    expected(
      at,
      "options with exactly one of `binary`, `package` and `docker`",
      given.length === 0 ? undefined : given.length === 2 && options.docker === undefined ? "both" : given.join(" and "),
    );
  }
  if (pkg !== undefined && options.args !== undefined) expected(at.child("args"), "absent for a package (its start.sh decides)", options.args);
  if (options.docker !== undefined && options.args !== undefined) expected(at.child("args"), "absent for a container (give `docker.command`)", options.args);
  const dockerOptions = options.docker === undefined ? undefined : object(options.docker, at.child("docker"), NODE_DOCKER_KEYS);
  const docker = dockerOptions === undefined ? undefined : validateDockerOptions(dockerOptions, at.child("docker"));
  const dockerEnv = dockerOptions === undefined ? undefined : envRecord(dockerOptions.env, at.child("docker").child("env"));
  const serviceEnv = isPlainObject(options.env) ? options.env : {};
  for (const key of Object.keys(dockerEnv ?? {})) {
    if (key in serviceEnv) fail(at.child("docker").child("env").child(key), `${at.child("env").child(key).describe()} is given twice, in \`env\` and in \`docker.env\`: keep one`);
  }
  const remoteRoot = optionalString(options.remoteRoot, at.child("remoteRoot")) ?? "/opt/harness";
  if (!remoteRoot.startsWith("/") || /[\n\r]/.test(remoteRoot)) expected(at.child("remoteRoot"), "an absolute path", remoteRoot);
  // A container's port can be picked among the node's free ones (read before it starts); a binary's or package's cannot.
  if (options.port === 0 && options.docker === undefined)
    expected(at.child("port"), "a fixed port: a remote node's free ports are not known before it starts (only a container on the node, `docker`, may have `port: 0`)", 0);
  const target: RemoteTarget = {
    host,
    user,
    binary,
    package: pkg,
    docker: docker?.options,
    remoteRoot: remoteRoot.replace(/\/+$/, "") || "/",
    ssh: Object.freeze(validateSshOptions(options.ssh, at.child("ssh"))),
    dns: options.dns === true,
  };
  if (options.dns !== undefined && typeof options.dns !== "boolean") expected(at.child("dns"), "true or false", options.dns);
  return { args: docker ? docker.args : stringArray(options.args, at.child("args")), options: target, ...(dockerEnv && { env: dockerEnv }) };
}

export function validateSshOptions(value: unknown, at: At): SshOptions {
  if (value === undefined) return {};
  if (!isPlainObject(value)) expected(at, "an object", value);
  // OpenSSH's spelling (`IdentityFile`) and YAML's (`identity_file`) mean the same option.
  const canonical = new Map(SSH_KEYS.map((k) => [k.toLowerCase(), k]));
  const o = object(Object.fromEntries(Object.entries(value).map(([k, v]) => [canonical.get(k.replace(/_/g, "").toLowerCase()) ?? k, v])), at, SSH_KEYS);
  const result: SshOptions = {};
  if (o.port !== undefined) result.port = integer(o.port, at.child("port"), 1, 65535);
  for (const key of ["identityFile", "privateKey", "knownHostsFile", "configFile", "proxyJump"] as const) {
    const text = optionalString(o[key], at.child(key));
    if (text !== undefined) result[key] = text;
  }
  if (o.strictHostKeyChecking !== undefined) {
    if (o.strictHostKeyChecking !== "yes" && o.strictHostKeyChecking !== "accept-new" && o.strictHostKeyChecking !== "no") {
      expected(at.child("strictHostKeyChecking"), '"yes", "accept-new" or "no"', o.strictHostKeyChecking);
    }
    result.strictHostKeyChecking = o.strictHostKeyChecking;
  }
  return result;
}
