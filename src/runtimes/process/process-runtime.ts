import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { resolvConf } from "../../dns/host-resolvers.js";
import { debugFor, envNames } from "../../debug.js";
import { HarnessError, StartError } from "../../errors.js";
import type { Plan, PlannedService } from "../../plan/plan.js";
import { processStartTime } from "../../host/proc-stat.js";
import { targetOptions } from "../../topology/target-options.js";
import type { ExitInfo, RunningService, Runtime, RuntimeContext } from "../runtime.js";
import { processFiles, writeProcessFiles } from "./process-files.js";
import { type Leader, terminateGroup, signalGroup } from "./process-group.js";
import { resolveBinary } from "./resolve-binary.js";
import { forgetGroup, forgetRun, watchGroup, watchRun } from "../../host/watchdog.js";

const log = debugFor("process");

/** Local processes, each the leader of its own process group. */
export class ProcessRuntime implements Runtime {
  readonly kind = "process" as const;
  #runId: string | undefined;

  /** The watchdog learns the run before its first spawn (see `watchRun`). */
  async prepare(plan: Plan): Promise<void> {
    this.#runId = plan.runId;
    watchRun(plan.runId);
  }

  async dispose(): Promise<void> {
    if (this.#runId !== undefined) forgetRun(this.#runId);
  }

  async preflight(service: PlannedService): Promise<void> {
    const { binary, cwd } = launchOf(service);
    resolveBinary(binary, cwd, environment(service).PATH, service.name);
    processFiles(service);
  }

  async start(service: PlannedService, context: RuntimeContext): Promise<RunningService> {
    const { binary, cwd } = launchOf(service);
    const env = environment(service);
    const file = resolveBinary(binary, cwd, env.PATH, service.name);
    // Read and rendered again: a restart writes what the files are now.
    writeProcessFiles(processFiles(service));
    const resolv = privateResolvConf(service, context.plan);
    // With a resolv.conf of its own: `unshare -m` (a private mount namespace, the same network), the
    // file bound over /etc/resolv.conf there, then the binary, exec'd: the pid stays the service's.
    const [command, argv] = resolv ? ["unshare", ["-m", "--propagation", "private", "sh", "-c", BIND_RESOLV, resolv, file, ...service.args]] : [file, [...service.args]];
    const child = spawn(command, argv, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    // Watched at once (the pid is known before the spawn event): a harness killed in between leaves nothing.
    if (child.pid !== undefined) watchGroup(child.pid);
    try {
      await once(child, "spawn");
    } catch (error) {
      throw new StartError(`Service "${service.name}" could not be started (${file}): ${(error as Error).message}`, {
        code: "E_SPAWN_FAILED",
        service: service.name,
        cause: error,
      });
    }
    const pid = child.pid!;
    log(`${service.name}: spawned ${file} (${service.args.length} args, env ${envNames(service.env)}) as pid ${pid} in ${cwd}`);
    context.state.record({ kind: "process", service: service.name, id: String(pid), pgid: pid, startedAt: processStartTime(pid) });
    child.stdout!.on("data", (chunk: Buffer) => context.log.write("stdout", chunk));
    child.stderr!.on("data", (chunk: Buffer) => context.log.write("stderr", chunk));
    const leader: Leader = { exited: () => child.exitCode !== null || child.signalCode !== null, exit: once(child, "exit").catch(() => {}) };
    const exited = exitOf(child).then((info) => {
      context.log.flush();
      return info;
    });
    return {
      exited,
      info: () => ({ pid }),
      // In its mount namespace (and its cwd: entering one moves to its root): a command beside it resolves names as it does.
      exec: (argv, signal) => runCommand(resolv ? ["nsenter", "-t", String(pid), "-m", `--wd=${cwd}`, "--", ...argv] : argv, cwd, env, signal),
      kill: async (signal) => signalGroup(pid, signal),
      pause: async () => signalGroup(pid, "SIGSTOP"),
      resume: async () => signalGroup(pid, "SIGCONT"),
      stop: async (graceMs) => {
        log(`${service.name}: stopping group ${pid} (SIGTERM, SIGKILL after ${graceMs} ms)`);
        // A paused group would hold SIGTERM pending for its whole grace.
        signalGroup(pid, "SIGCONT");
        const gone = await terminateGroup(pid, graceMs, leader);
        if (!gone) {
          throw new HarnessError(`Service "${service.name}" did not stop: its process group ${pid} survived SIGKILL`, {
            code: "E_STOP_FAILED",
            service: service.name,
            logTail: context.log.tail(20).map((l) => l.line),
          });
        }
        await exited;
        forgetGroup(pid);
        context.state.forget("process", String(pid));
      },
    };
  }
}

const BIND_RESOLV = 'mount --bind "$0" /etc/resolv.conf && exec "$@"';

/**
 * The resolv.conf of a process that resolves through the run's DNS server (`network.dns`): only as
 * root (a mount namespace of its own) and on port 53 (resolv.conf has no port); else it has
 * `HARNESS_DNS` only. Written in its own dir; undefined when it gets none.
 */
function privateResolvConf(service: PlannedService, plan: Plan): string | undefined {
  const server = plan.dns?.serverOf[service.name];
  if (!plan.dns || server === undefined || plan.dns.port !== 53 || process.getuid?.() !== 0) return undefined;
  const file = path.join(service.dir, "resolv.conf");
  fs.mkdirSync(service.dir, { recursive: true });
  fs.writeFileSync(file, resolvConf(server, plan.dns.domain), { mode: 0o644 });
  return file;
}

function launchOf(service: PlannedService): { binary: string; cwd: string } {
  const target = targetOptions(service.spec, "process");
  return { binary: target.binary, cwd: path.resolve(target.cwd ?? process.cwd()) };
}

/** Copying `process.env` reads every variable from the OS: once per planned service (preflight, start and restarts share it). */
const environments = new WeakMap<PlannedService, NodeJS.ProcessEnv>();

function environment(service: PlannedService): NodeJS.ProcessEnv {
  let env = environments.get(service);
  if (!env) {
    const target = targetOptions(service.spec, "process");
    env = target.inheritEnv ? { ...process.env, ...service.env } : { ...service.env };
    environments.set(service, env);
  }
  return env;
}

/**
 * Resolves once the process has exited and its output is read: on `close`, or shortly after
 * `exit` when a grandchild still holds the pipes open.
 */
function exitOf(child: ChildProcess): Promise<ExitInfo> {
  return new Promise((resolve) => {
    let info: ExitInfo | undefined;
    child.once("exit", (code, signal) => {
      info = { code, signal };
      setTimeout(() => resolve(info!), 100).unref();
    });
    child.once("close", (code: number | null, signal: NodeJS.Signals | null) => resolve(info ?? { code, signal }));
  });
}

/** Runs a health command (argv, no shell) beside the service; kills its group on abort. */
async function runCommand(argv: readonly string[], cwd: string, env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<number> {
  const [command, ...args] = argv;
  const child = spawn(command!, args, { cwd, env, detached: true, stdio: "ignore" });
  const onAbort = () => child.pid && signalGroup(child.pid, "SIGKILL");
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    const [code] = (await once(child, "exit")) as [number | null];
    return code ?? 1;
  } catch {
    return 127;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
