import http from "node:http";
import net from "node:net";
import { deadlineSignal } from "../host/deadline-signal.js";
import type { LogLine, ServiceLog } from "../logs/service-log.js";
import type { PlannedService } from "../plan/plan.js";
import type { RunningService } from "../runtimes/runtime.js";

/** One readiness check: resolves true when ready; `last` says why the previous try was not. */
export interface Probe {
  readonly description: string;
  check(signal: AbortSignal): Promise<boolean>;
  readonly last: string | undefined;
}

const ATTEMPT_TIMEOUT_MS = 2_000;

/**
 * The probe for a service: its `health` option, else its runtime's own check, else TCP when it
 * has a port. `undefined` means ready as soon as it runs. `logFrom` is the log position at which
 * this start began, so that a `logLine` matches only lines of this start.
 */
export function probeFor(service: PlannedService, running: RunningService, log: ServiceLog, logFrom: number): Probe | undefined {
  const health = service.spec.health;
  if (health && "logLine" in health) return logLineProbe(log, logFrom, health.logLine);
  if (health && "command" in health) {
    return makeProbe(`command ${JSON.stringify(health.command)}`, async (signal) => {
      const code = await running.exec(health.command, signal);
      return code === 0 ? true : `it exited with code ${code}`;
    });
  }
  if (!health && running.nativeHealth) {
    return makeProbe("the runtime's own health check", async (signal) => ((await running.nativeHealth!(signal)) ? true : "not healthy yet"));
  }
  if (service.addr === undefined) return undefined;
  const [host, port] = splitAddr(service.addr);
  if (health && "http" in health) {
    const url = `http://${service.addr}${health.http}`;
    const accepted = health.status === undefined ? undefined : ([] as number[]).concat(health.status);
    return makeProbe(`HTTP GET ${url}`, (signal) => httpCheck(url, accepted, signal));
  }
  return makeProbe(`TCP connect to ${service.addr}`, (signal) => tcpCheck(host, port, signal));
}

function makeProbe(description: string, attempt: (signal: AbortSignal) => Promise<true | string>): Probe {
  const probe = {
    description,
    last: undefined as string | undefined,
    async check(signal: AbortSignal) {
      const result = await attempt(signal).catch((error: Error) => error.message);
      probe.last = result === true ? undefined : result;
      return result === true;
    },
  };
  return probe;
}

function logLineProbe(log: ServiceLog, from: number, pattern: RegExp | string): Probe {
  const matches = (l: LogLine) => (typeof pattern === "string" ? l.line.includes(pattern) : pattern.test(l.line));
  return makeProbe(`a log line matching ${String(pattern)}`, async () => (log.since(from).some(matches) ? true : "no such line yet"));
}

/**
 * One TCP connect. Its deadline and abandonment destroy the socket by hand: a socket given a
 * `signal` makes an ERR_STREAM_PREMATURE_CLOSE error (and its stack) on every close, and an
 * AbortController per attempt — together a tenth of a fast service's start.
 */
export function tcpCheck(host: string, port: number, signal: AbortSignal): Promise<true | string> {
  if (signal.aborted) return Promise.resolve("abandoned");
  return new Promise<true | string>((resolve) => {
    const socket = net.connect({ host, port });
    const done = (result: true | string) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve(result);
    };
    const onAbort = () => done("abandoned");
    const timer = setTimeout(() => done(`no connection within ${ATTEMPT_TIMEOUT_MS} ms`), ATTEMPT_TIMEOUT_MS);
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => done(true));
    socket.once("error", (error: NodeJS.ErrnoException) => done(`connection failed (${error.code ?? error.message})`));
  });
}

function httpCheck(url: string, accepted: number[] | undefined, signal: AbortSignal): Promise<true | string> {
  const attempt = deadlineSignal(ATTEMPT_TIMEOUT_MS, signal);
  return new Promise<true | string>((resolve) => {
    const request = http.get(url, { signal: attempt.signal, agent: false }, (response) => {
      response.resume();
      const status = response.statusCode ?? 0;
      const ok = accepted ? accepted.includes(status) : status >= 200 && status < 300;
      resolve(ok ? true : `it answered ${status}`);
    });
    request.once("error", (error: NodeJS.ErrnoException) => resolve(`request failed (${error.code ?? error.message})`));
  }).finally(attempt.clear);
}

function splitAddr(addr: string): [string, number] {
  const i = addr.lastIndexOf(":");
  return [addr.slice(0, i), Number(addr.slice(i + 1))];
}
