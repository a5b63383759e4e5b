import os from "node:os";
import { deadlineSignal } from "../../host/deadline-signal.js";
import path from "node:path";
import { HarnessError, StartError } from "../../errors.js";
import type { ServicePackage } from "../../package/package-archive.js";
import { renderTemplate } from "../../plan/render-template.js";
import { shellQuote as quote } from "../../host/shell-quote.js";
import { renderEnvFile } from "../../plan/env-file.js";
import type { PlannedService } from "../../plan/plan.js";
import { targetOptions } from "../../topology/target-options.js";
import type { ExitInfo, RunningService, RuntimeContext } from "../runtime.js";
import { followRemoteLogs } from "./remote-logs.js";
import { nodeForState } from "../../ssh/node-record.js";
import {
  abandonCommand,
  execInDirCommand,
  exitStatusCommand,
  healthCommand,
  launchBinaryCommand,
  launchPackageCommand,
  prepareDirCommand,
  removeDirCommand,
  SETUP_TIMED_OUT,
  setupCommand,
  stopCommand,
} from "./remote-script.js";
import type { SshConnection } from "../../ssh/ssh-connection.js";

const HEALTH_ATTEMPT_MS = 5_000;

/**
 * Deploys and starts one service on its node: prepares `<remoteRoot>/<service>/`, writes its env
 * file (0600), starts the binary or the package's start.sh in a process group of its own, and
 * streams its logs back until it ends. Every resource is recorded in the run state as it is made.
 */
export async function startRemoteService(service: PlannedService, context: RuntimeContext, connection: SshConnection, pkg: ServicePackage | undefined): Promise<RunningService> {
  const target = targetOptions(service.spec, "remote_lan", "wireguard");
  const dir = path.posix.join(target.remoteRoot, service.name);
  const kind = pkg ? "package" : "binary";
  const where = connection.label;
  const must = async (what: string, command: string, options: { stdin?: Buffer; signal?: AbortSignal } = {}) => {
    const result = await connection.run(command, { signal: context.signal, ...options });
    if (result.code !== 0) {
      throw new StartError(`Service "${service.name}" on ${where}: ${what} failed (exit ${result.code ?? result.signal}): ${result.stderr.trim() || result.stdout.trim()}`, {
        code: "E_SSH_COMMAND",
        service: service.name,
        logTail: context.log.tail(20).map((l) => l.line),
      });
    }
    return result.stdout;
  };

  const node = nodeForState(target.host, target.user, target.ssh);
  context.state.record({ kind: "remote-dir", service: service.name, id: `${where}:${dir}`, node, dir });
  let pgid: number;
  try {
    await must(`creating ${dir}`, prepareDirCommand(dir, context.plan.runId));
    await connection.writeFile(service.envFile, renderEnvFile(service.env), 0o600);
    let pgidText: string;
    if (pkg) {
      const upload = path.posix.join(dir, ".package.tar.gz");
      await connection.writeFile(upload, pkg.archive, 0o600);
      await must(`unpacking ${path.basename(pkg.source)} into ${dir}`, `cd ${quote(dir)} && tar -xzf .package.tar.gz && rm -f .package.tar.gz`);
      // Rendered here, where the env is known exactly, and uploaded: no value of it passes a shell.
      for (const file of renderPackageTemplates(pkg, service)) await connection.writeFile(path.posix.join(dir, file.target), file.content, file.mode);
      if (pkg.hasSetupScript) await runSetup(service, context, connection, pkg, dir);
      const result = await connection.run(launchPackageCommand(dir, service.envFile), { signal: context.signal });
      pgidText = result.stdout;
      if (result.code !== 0) {
        const log = await connection.run(`cat ${quote(`${dir}/logs/start.log`)} 2>/dev/null`).catch(() => undefined);
        for (const line of (log?.stdout ?? "").split("\n").filter(Boolean)) context.log.push("stderr", line);
        throw new StartError(`scripts/start.sh of service "${service.name}" on ${where} exited with code ${result.code ?? result.signal}; see its log below`, {
          code: "E_EARLY_EXIT",
          service: service.name,
          logTail: context.log.tail(20).map((l) => l.line),
        });
      }
    } else {
      pgidText = await must(`starting ${target.binary}`, launchBinaryCommand(dir, target.binary!, service.args));
    }
    pgid = Number(pgidText.trim().split("\n").at(-1));
    if (!Number.isInteger(pgid) || pgid <= 0) {
      throw new StartError(`Service "${service.name}" on ${where} started, but its process group is unknown (got ${JSON.stringify(pgidText)})`, {
        code: "E_SSH_COMMAND",
        service: service.name,
      });
    }
  } catch (error) {
    // Whatever of it was made goes: a half-started service must not outlive the failed start.
    await connection.run(`${abandonCommand(dir)}\n${removeDirCommand(dir)}`).catch(() => undefined);
    context.state.forget("remote-dir", `${where}:${dir}`);
    throw error;
  }
  const processId = `${where}:${pgid}`;
  context.state.record({ kind: "remote-process", service: service.name, id: processId, node, pgid, dir });

  const note = (line: string) => context.log.push("stderr", `[meshbed] ${line}`);
  const onDropped = (reason: string) => note(`SSH connection to ${where} dropped (${reason}); reconnecting`);
  const onReconnected = (attempts: number) => note(`SSH connection to ${where} re-established (attempt ${attempts}); log streaming resumes`);
  connection.on("dropped", onDropped);
  connection.on("reconnected", onReconnected);

  let stopping = false;
  /** The signal `kill()` sent: the wrapper that would record the exit status dies with the group. */
  let killedBy: string | undefined;
  let paused = false;
  const exited = watch().finally(() => {
    connection.off("dropped", onDropped);
    connection.off("reconnected", onReconnected);
    context.log.flush();
  });

  /** Streams the logs until the service is gone (across reconnections); then its exit. */
  async function watch(): Promise<ExitInfo> {
    const sawEnd = await followRemoteLogs({ connection, dir, pgid, kind, log: context.log, note });
    if (!sawEnd) return { code: null, signal: null };
    if (stopping) return { code: null, signal: "SIGTERM" };
    const status = await connection.run(exitStatusCommand(dir)).catch(() => undefined);
    const info = exitInfo(status?.stdout.trim());
    return killedBy !== undefined && info.code === null && info.signal === null ? { code: null, signal: killedBy } : info;
  }

  async function signalRemoteGroup(signal: NodeJS.Signals): Promise<void> {
    const result = await connection.run(`kill -s ${signal.replace(/^SIG/, "")} -- -${pgid} 2>&1 || true`);
    if (result.code !== 0) throw new HarnessError(`Could not send ${signal} to service "${service.name}" on ${where}: ${result.stdout.trim()}`, { code: "E_SSH_COMMAND", service: service.name });
  }

  const running: RunningService = {
    exited,
    info: () => ({ pid: pgid, node: where }),
    exec: async (argv, signal) => {
      const result = await connection.exec(execInDirCommand(dir, argv), { signal }).catch(() => ({ code: 255 }));
      return result.code ?? 255;
    },
    kill: async (signal) => {
      killedBy = signal;
      await signalRemoteGroup(signal);
    },
    pause: async () => {
      await signalRemoteGroup("SIGSTOP");
      paused = true;
    },
    resume: async () => {
      await signalRemoteGroup("SIGCONT");
      paused = false;
    },
    runAsRoot: (command) => connection.runAsRoot(command),
    stop: async (graceMs) => {
      stopping = true;
      // A paused group would hold SIGTERM pending for its whole grace.
      if (paused) await signalRemoteGroup("SIGCONT").catch(() => undefined);
      const result = await connection.run(stopCommand(dir, service.envFile, pgid, graceMs, kind));
      if (result.code !== 0) {
        throw new HarnessError(`Service "${service.name}" on ${where} did not stop: ${result.stderr.trim() || `exit ${result.code}`}`, {
          code: "E_STOP_FAILED",
          service: service.name,
        });
      }
      await exited;
      context.state.forget("remote-process", processId);
      const removed = await connection.run(removeDirCommand(dir));
      if (removed.code !== 0) {
        throw new HarnessError(`Service "${service.name}" stopped, but its dir ${dir} on ${where} could not be removed: ${removed.stderr.trim()}`, {
          code: "E_STOP_FAILED",
          service: service.name,
        });
      }
      context.state.forget("remote-dir", `${where}:${dir}`);
    },
  };
  if (pkg?.hasHealthScript) {
    running.nativeHealth = async (signal) => {
      const attempt = deadlineSignal(HEALTH_ATTEMPT_MS, signal);
      const result = await connection
        .exec(healthCommand(dir, service.envFile), { signal: attempt.signal })
        .catch(() => undefined)
        .finally(attempt.clear);
      return result?.code === 0;
    };
  }
  return running;
}

/** A package's config templates rendered with the service's env: each file's path in the package, text and mode. */
export function renderPackageTemplates(pkg: ServicePackage, service: PlannedService): { target: string; content: string; mode: number }[] {
  return pkg.templates.map((t) => ({ target: t.target, ...renderTemplate(t.text, service.env, { service: service.name, file: t.file }) }));
}

/**
 * Runs the package's `scripts/setup.sh` once, within the manifest's `setup_timeout`; its output goes
 * to `logs/setup.log` (streamed with the service's other logs). A failure is `E_SETUP_FAILED` with
 * that output; the caller then removes the service dir.
 */
async function runSetup(service: PlannedService, context: RuntimeContext, connection: SshConnection, pkg: ServicePackage, dir: string): Promise<void> {
  const timeoutMs = pkg.manifest.setupTimeoutMs;
  const result = await connection.run(setupCommand(dir, service.envFile, timeoutMs), { signal: context.signal });
  if (result.code === 0) return;
  const log = await connection.run(`cat ${quote(`${dir}/logs/setup.log`)} 2>/dev/null`).catch(() => undefined);
  for (const line of (log?.stdout ?? "").split("\n").filter(Boolean)) context.log.push("stderr", line);
  const timedOut = result.stdout.split("\n").includes(SETUP_TIMED_OUT);
  const what = timedOut
    ? `did not finish within ${timeoutMs / 1000} s (\`setup_timeout\` of manifest.yaml) and was killed`
    : `exited with code ${result.code ?? result.signal}${result.stderr.trim() ? ` (${result.stderr.trim()})` : ""}`;
  throw new StartError(`scripts/setup.sh of service "${service.name}" (package ${pkg.manifest.name} ${pkg.manifest.version}) on ${connection.label} ${what}; see its log below`, {
    code: "E_SETUP_FAILED",
    service: service.name,
    logTail: context.log.tail(20).map((l) => l.line),
  });
}

/** The wrapper wrote `$?`: a code, or 128 + the number of the signal that killed the service. */
function exitInfo(status: string | undefined): ExitInfo {
  const code = status === undefined || status === "" ? Number.NaN : Number(status);
  if (!Number.isInteger(code)) return { code: null, signal: null };
  if (code > 128) {
    const name = Object.entries(os.constants.signals).find(([, n]) => n === code - 128)?.[0];
    if (name) return { code: null, signal: name };
  }
  return { code, signal: null };
}
