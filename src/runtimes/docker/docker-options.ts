import type { CommonServiceOptions } from "../../topology/common-options.js";
import { type ResolvedServiceFile, type ServiceFile, validateServiceFiles } from "../../topology/service-files.js";
import { type At, boolean, expected, fail, integer, object, optionalString, string, stringArray } from "../../topology/validate.js";

/** A file put into the container before it starts: its content, a file of the harness host, or a template rendered with the container's env. */
export type DockerFile = ServiceFile;

/** Where a service's image comes from when it is not given by name. */
export interface DockerBuild {
  /** The build context: a directory of the harness host, sent whole to the engine (no `.dockerignore`). */
  context: string;
  /** The Dockerfile, relative to `context`. Default: "Dockerfile". */
  dockerfile?: string;
}

/**
 * A container on the harness host's Docker engine (`DOCKER_HOST`, else the default socket), on the
 * run's own network (`mb-<runId>`) at a fixed address. Its `port` is the port inside the container
 * (`0` picks one, given as `PORT`), also published on a free port of the host.
 */
export type DockerOptions<Names extends string = string> = DockerContainerOptions<Names> & ImageSource;

/**
 * Where a container's image comes from: `image` or `build`, not both. `image`: a reference
 * ("postgres:14", "meshbed-test/busybox:1"); `build`: built from a directory, labelled with the run
 * and removed when the run ends. (A container on a node: the node's own image if it has it, else
 * shipped from the harness host's engine, else pulled on the node; a build is made on the harness
 * host and shipped.)
 */
export type ImageSource = { image: string; build?: undefined } | { build: DockerBuild; image?: undefined };

/** What a container service takes beside its image. */
export interface DockerContainerOptions<Names extends string = string> extends CommonServiceOptions<Names> {
  /** Overrides the image's CMD; may use `${VAR}` like env values. Default: the image's CMD. */
  command?: readonly string[];
  /** Overrides the image's ENTRYPOINT (`[]` clears it); may use `${VAR}`. Default: the image's ENTRYPOINT. */
  entrypoint?: readonly string[];
  /**
   * Container ports to publish on the harness host, as compose writes them: `5433` publishes container
   * port 5433 on a free host port, `"15432:5432"` on host port 15432 (which must be free). Without
   * `port`, the first of them is the service's primary port (the ADR's `ports: [5432]`). `status()`
   * shows where each one landed (`publishedPorts`). Default: none.
   */
  ports?: readonly (number | string)[];
  /**
   * Files put into the container before it starts, by absolute path: `{ "/etc/app.conf": "key=value\n" }`,
   * `{ "/etc/app.conf": { path: "./app.conf" } }` (copied as is), or `{ "/etc/app.conf": { template:
   * "./app.conf.template" } }` (rendered with the container's env, `${VAR}` as in env values; mode 0600
   * when it refers to a secret-looking variable). Owned by the image's user when it is numeric; missing
   * directories are created. Besides these, the service's
   * env file is always at its `HARNESS_ENV_FILE` (`/opt/harness/<service>/service.env`, mode 0600):
   * bind-mounted read-only from the run's state dir when the engine is local, else copied in. Default: none.
   */
  files?: Readonly<Record<string, DockerFile>>;
  /**
   * When to pull `image` from its registry: "missing" (only when it is not present locally), "never",
   * or "always". Default: "missing".
   */
  pull?: "missing" | "never" | "always";
  /**
   * Run a tiny init (the engine's `docker-init`) as PID 1, which passes signals on and reaps zombies:
   * without it a main process that installs no SIGTERM handler ignores `docker stop`, as PID 1 does,
   * and is killed only after `stopTimeoutMs`. Default: false (the image's own PID 1, as `docker run`).
   */
  init?: boolean;
}

export const DOCKER_KEYS = ["image", "build", "command", "entrypoint", "ports", "files", "pull", "init"] as const;

const PULL_POLICIES = ["missing", "never", "always"] as const;

/** Target options of a docker service, after validation. `command` is the service's `args`. */
export type DockerTarget = {
  image: string | undefined;
  build: { context: string; dockerfile: string } | undefined;
  /** Whether `command` was given (its argv is the service's interpolated `args`). */
  hasCommand: boolean;
  entrypoint: string[] | undefined;
  /** Extra published ports. */
  ports: PublishedPort[];
  files: Record<string, ContainerFile>;
  pull: (typeof PULL_POLICIES)[number];
  init: boolean;
};

export interface PublishedPort {
  /** A fixed host port, or undefined: pick a free one. */
  host: number | undefined;
  container: number;
}

export type ContainerFile = ResolvedServiceFile;

export function validateDockerOptions(options: Record<string, unknown>, at: At): { args: string[]; options: DockerTarget } {
  const hasImage = options.image !== undefined;
  const hasBuild = options.build !== undefined;
  if (hasImage === hasBuild) {
    fail(at, `Expected ${at.describe()} to have exactly one of \`image\` and \`build\`, got ${hasImage ? "both" : "neither"}`);
  }
  const image = optionalString(options.image, at.child("image"));
  if (image !== undefined && /\s/.test(image)) expected(at.child("image"), "an image reference without spaces", image);
  const pull = options.pull ?? "missing";
  if (!PULL_POLICIES.includes(pull as never)) expected(at.child("pull"), `one of ${PULL_POLICIES.map((p) => `"${p}"`).join(", ")}`, pull);
  return {
    args: stringArray(options.command, at.child("command")),
    options: {
      image,
      build: hasBuild ? validateBuild(options.build, at.child("build")) : undefined,
      hasCommand: options.command !== undefined,
      entrypoint: options.entrypoint === undefined ? undefined : stringArray(options.entrypoint, at.child("entrypoint")),
      ports: validatePorts(options.ports, at.child("ports")),
      files: validateServiceFiles(options.files, at.child("files"), "absolute"),
      pull: pull as DockerTarget["pull"],
      init: boolean(options.init, at.child("init"), false),
    },
  };
}

function validateBuild(value: unknown, at: At): DockerTarget["build"] {
  const build = object(value, at, ["context", "dockerfile"]);
  return {
    context: string(build.context, at.child("context")),
    dockerfile: optionalString(build.dockerfile, at.child("dockerfile")) ?? "Dockerfile",
  };
}

function validatePorts(value: unknown, at: At): PublishedPort[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) expected(at, 'an array of ports (`5433` or `"15432:5432"`)', value);
  const ports = value.map((item, i): PublishedPort => {
    const here = at.child(i);
    if (typeof item === "number") return { host: undefined, container: integer(item, here, 1, 65535) };
    const match = typeof item === "string" ? /^(?:(\d+):)?(\d+)(?:\/tcp)?$/.exec(item) : null;
    if (!match) expected(here, 'a port (`5433`) or "hostPort:containerPort" (`"15432:5432"`)', item);
    const container = integer(Number(match[2]), here, 1, 65535);
    return { host: match[1] === undefined ? undefined : integer(Number(match[1]), here, 1, 65535), container };
  });
  const hosts = new Set<number>();
  const containers = new Set<number>();
  for (const [i, p] of ports.entries()) {
    if (p.host !== undefined && hosts.has(p.host)) fail(at.child(i), `Host port ${p.host} is published twice in ${at.describe()}: give each its own host port`);
    if (containers.has(p.container)) fail(at.child(i), `Container port ${p.container} is published twice in ${at.describe()}: list it once`);
    if (p.host !== undefined) hosts.add(p.host);
    containers.add(p.container);
  }
  return ports;
}
