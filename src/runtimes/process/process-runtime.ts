import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { resolvConf } from "../../dns/host-resolvers.js";
import { debugFor, envNames } from "../../debug.js";
import { HarnessError, StartError } from "../../errors.js";
import type { Plan, PlannedService } from "../../plan/plan.js";
import { forksSoFar, processStartTime } from "../../host/proc-stat.js";
import { targetOptions } from "../../topology/target-options.js";
import type { ExitInfo, RunningService, Runtime, RuntimeContext } from "../runtime.js";
import { processFiles, writeProcessFiles } from "./process-files.js";
import { type Leader, terminateGroup, signalGroup } from "./process-group.js";
import { resolveBinary } from "./resolve-binary.js";
import { ResolvNamespace } from "./resolv-namespace.js";
import { forgetGroup, forgetRun, watchGroup, watchRun } from "../../host/watchdog.js";
import type { RunState } from "../../state/run-state.js";

const log = debugFor("process");

/** Local processes, each the leader of its own process group. */
export class ProcessRuntime implements Runtime {
  readonly kind = "process" as const;
  #runId: string | undefined;
  /** The mount namespace of each server address its processes resolve through (`network.dns`, as root). */
  readonly #namespaces = new Map<string, ResolvNamespace>();
  /**
   * The kernel's count of processes made, read once before the run's first spawn: a group's members
   * are looked for among the pids made since (see `membersOf`). A count from any time before a
   * leader's spawn will do (an older one only says that more were made since); /proc/stat costs
   * 0.1–0.2 ms a read here.
   */
  #forksBefore: number | undefined;
  /** The services started so far: a restart reads the count again (a long `up --watch` would make it stale). */
  readonly #started = new Set<string>();

  /**
   * The watchdog learns the run before its first spawn (see `watchRun`). With names, the namespace
   * of each view is begun here and comes up while the DNS server does; a start waits for its own.
   */
  async prepare(plan: Plan, state?: RunState): Promise<void> {
    this.#runId = plan.runId;
    this.#forksBefore = forksSoFar();
    watchRun(plan.runId);
    if (!state) return;
    for (const [server, services] of resolvingProcesses(plan)) {
      const file = path.join(plan.runDir, `resolv.${server}.conf`);
      fs.writeFileSync(file, resolvConf(server, plan.dns!.domain), { mode: 0o644 });
      this.#namespaces.set(server, ResolvNamespace.open(file, { runId: plan.runId, services, state }));
    }
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.#namespaces.values()].map((ns) => ns.close()));
    this.#namespaces.clear();
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
    // With names: in its view's mount namespace, where the run's resolv.conf is /etc/resolv.conf.
    const namespace = this.#namespaces.get(context.plan.dns?.serverOf[service.name] ?? "");
    const [command, argv] = namespace ? await namespace.enter([file, ...service.args], cwd) : [file, [...service.args]];
    if (this.#started.has(service.name)) this.#forksBefore = forksSoFar();
    this.#started.add(service.name);
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
    const leader: Leader = { exited: () => child.exitCode !== null || child.signalCode !== null, exit: once(child, "exit").catch(() => {}), forksBefore: this.#forksBefore };
    const exited = exitOf(child).then((info) => {
      context.log.flush();
      return info;
    });
    return {
      exited,
      info: () => ({ pid }),
      // In its mount namespace: a command beside it resolves names as it does.
      exec: async (argv, signal) => runCommand(namespace ? (await namespace.enter(argv, cwd)).flat() : argv, cwd, env, signal),
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

/**
 * The processes that resolve through the run's DNS server by `/etc/resolv.conf` (`network.dns`), by
 * their server address (one per view): only as root (a mount namespace each view) and on port 53
 * (resolv.conf has no port); else they have `HARNESS_DNS` only.
 */
function resolvingProcesses(plan: Plan): Map<string, string[]> {
  const byServer = new Map<string, string[]>();
  const dns = plan.dns;
  if (dns?.port !== 53 || process.getuid?.() !== 0) return byServer;
  for (const service of Object.values(plan.services)) {
    const server = dns.serverOf[service.name];
    if (service.target !== "process" || server === undefined) continue;
    byServer.set(server, [...(byServer.get(server) ?? []), service.name]);
  }
  return byServer;
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
