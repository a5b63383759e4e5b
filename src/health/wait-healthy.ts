import { setTimeout as sleep } from "node:timers/promises";
import { debugFor } from "../debug.js";
import { StartError } from "../errors.js";
import type { ServiceLog } from "../logs/service-log.js";
import type { ExitInfo } from "../runtimes/runtime.js";
import { checkGap } from "./check-gap.js";
import type { Probe } from "./probes.js";

const TAIL_LINES = 20;
const debug = debugFor("health");

export interface WaitOptions {
  service: string;
  probe: Probe | undefined;
  exited: Promise<ExitInfo>;
  log: ServiceLog;
  timeoutMs: number;
  signal: AbortSignal;
  /** Where the service runs, named in the messages when it is not plain from the service ("node root@10.0.0.5"). */
  where?: string;
}

/**
 * Readiness as a race of the probe, an early exit and a deadline. The first check runs at once;
 * the gaps then grow with the time waited (`checkGap`), so a fast service is seen within a few ms
 * and a slow one costs few checks.
 */
export async function waitHealthy(options: WaitOptions): Promise<void> {
  const { service, probe, log, signal } = options;
  let exit: ExitInfo | undefined;
  void options.exited.then((info) => (exit = info));
  const exitedOrAborted = Promise.race([options.exited, new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }))]);
  const began = Date.now();
  const deadline = began + options.timeoutMs;
  const tail = () => log.tail(TAIL_LINES).map((l) => l.line);
  let attempts = 0;
  for (;;) {
    if (signal.aborted) throw new StartError(`Start of service "${service}" was abandoned`, { code: "E_START_ABORTED", service });
    if (exit) throw earlyExit(service, exit, tail(), options.where);
    if (!probe) return;
    // An attempt against a container that just exited hangs until its timeout (no ARP answer): the exit wins.
    const ready = await Promise.race([probe.check(signal), exitedOrAborted.then(() => false)]);
    // A probe that succeeded against a port left by something else must not hide an exit.
    await Promise.resolve();
    if (exit) throw earlyExit(service, exit, tail(), options.where);
    if (ready) {
      debug(`${service}: healthy after ${attempts + 1} checks (${probe.description})`);
      return;
    }
    attempts++;
    if (Date.now() >= deadline) {
      throw new StartError(
        `Service "${service}"${options.where ? ` on ${options.where}` : ""} did not become healthy within ${options.timeoutMs} ms: ${probe.description} never succeeded` +
          (probe.last ? ` (last try: ${probe.last})` : "") +
          `; check its log, fix its \`health\` option, or raise \`startTimeoutMs\``,
        { code: "E_HEALTH_TIMEOUT", service, logTail: tail() },
      );
    }
    const now = Date.now();
    await Promise.race([sleep(Math.min(checkGap(now - began), Math.max(0, deadline - now))), exitedOrAborted]);
  }
}

function earlyExit(service: string, exit: ExitInfo, tail: string[], where: string | undefined): StartError {
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  return new StartError(`Service "${service}"${where ? ` on ${where}` : ""} ${how} while starting; see its log below`, {
    code: "E_EARLY_EXIT",
    service,
    logTail: tail,
  });
}
