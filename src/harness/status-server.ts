import http from "node:http";
import type { AddressInfo } from "node:net";
import { debugFor } from "../debug.js";
import { HarnessError } from "../errors.js";
import type { LogLine } from "../logs/service-log.js";
import { registryOf } from "../plan/descriptor.js";
import { renderSvg } from "../plan/graph-formats.js";
import { planGraph } from "../plan/plan-graph.js";
import type { HarnessEvent } from "../topology/types.js";
import type { Run } from "./run.js";
import type { ServiceController } from "./service-controller.js";
import { ServiceHandle } from "./service-handle.js";
import { renderStatusPage } from "./status-page.js";

const log = debugFor("status");

export interface StatusServerOptions {
  /** `0` picks a free port. */
  port: number;
  /** Default: "127.0.0.1" (only this host's own clients). */
  host?: string;
}

/** A comment line every so often keeps proxies and idle timeouts from closing a quiet feed. */
const KEEP_ALIVE_MS = 15_000;
/** A client that has this much unsent is not reading: it is dropped rather than buffered for. */
const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;
/** How many lines `/services/<name>/logs` gives without `?tail=`. */
const DEFAULT_TAIL = 200;

interface FeedClient {
  response: http.ServerResponse;
  logs: boolean;
}

/**
 * The run's status over HTTP, from the harness host:
 * - `GET /health`: 200 when every service is healthy, else 503 with the others' states;
 * - `GET /services`: the registry, each service's state and status (pid, container…);
 * - `GET /services/<name>/logs?tail=N`: its last lines;
 * - `GET /events`: server-sent events — `state` (each event of the run, as `onEvent` gets it,
 *   extra fields and all; a new client first gets every service's current state) and `log`
 *   (each line of each service; `?logs=0` leaves them out);
 * - `GET /`: the status page (status-page.ts), `GET /graph.svg`: the topology's picture.
 * Up from before the first service starts until after the last one stopped.
 */
export class StatusServer {
  readonly #run: Run;
  readonly #server: http.Server;
  readonly #clients = new Set<FeedClient>();
  readonly #unsubscribe: (() => void)[] = [];
  readonly #logSubscriptions = new Map<string, () => void>();
  readonly #svg: string;
  readonly #page: string;
  #keepAlive: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  /** "http://127.0.0.1:<port>/". */
  readonly url: string;

  private constructor(run: Run, server: http.Server, url: string) {
    this.#run = run;
    this.#server = server;
    this.url = url;
    const graph = planGraph(run.plan);
    this.#svg = renderSvg(graph);
    this.#page = renderStatusPage(graph, this.#svg);
  }

  static async start(run: Run, options: StatusServerOptions): Promise<StatusServer> {
    const host = options.host ?? "127.0.0.1";
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, host, () => {
        server.off("error", reject);
        resolve();
      });
    }).catch((error: NodeJS.ErrnoException) => {
      const what = error.code === "EADDRINUSE" ? "is already in use" : `cannot be listened on (${error.code ?? error.message})`;
      throw new HarnessError(`The status port ${options.port} of run ${run.plan.runId} ${what} on ${host}: stop what holds it, or use \`statusPort: 0\` to pick a free one`, {
        code: "E_PORT_IN_USE",
        cause: error,
      });
    });
    const { port } = server.address() as AddressInfo;
    const status = new StatusServer(run, server, `http://${host.includes(":") ? `[${host}]` : host}:${port}/`);
    server.on("request", (request, response) => status.#handle(request, response));
    status.#unsubscribe.push(run.events.subscribe((event) => status.#onEvent(event)));
    for (const controller of run.controllers.values()) status.#followLog(controller);
    status.#keepAlive = setInterval(() => status.#broadcast(": keep-alive\n\n", false), KEEP_ALIVE_MS).unref();
    log(`run ${run.plan.runId}: status at ${status.url}`);
    return status;
  }

  /** Ends every feed and stops listening. Runs once. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#keepAlive);
      for (const unsubscribe of [...this.#unsubscribe, ...this.#logSubscriptions.values()]) unsubscribe();
      for (const client of this.#clients) client.response.end();
      this.#clients.clear();
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      // Idle keep-alive connections would hold `close()` open.
      this.#server.closeAllConnections();
      await closed;
    })();
    return this.#closing;
  }

  #onEvent(event: HarnessEvent): void {
    // A log's followers end when its service stops or exits; a start (or restart) writes to it again.
    const controller = this.#run.controllers.get(event.service);
    if (event.state === "starting" && controller) this.#followLog(controller);
    this.#broadcast(sse("state", eventJson(event)), false);
  }

  #followLog(controller: ServiceController): void {
    const name = controller.service.name;
    this.#logSubscriptions.get(name)?.();
    this.#logSubscriptions.set(
      name,
      controller.log.subscribe((line) => this.#broadcast(sse("log", logJson(line)), true)),
    );
  }

  #broadcast(chunk: string, isLog: boolean): void {
    for (const client of this.#clients) {
      if (isLog && !client.logs) continue;
      if (client.response.writableLength > MAX_BACKLOG_BYTES) {
        log(`dropping a feed client that is ${client.response.writableLength} bytes behind`);
        client.response.destroy();
        this.#clients.delete(client);
        continue;
      }
      client.response.write(chunk);
    }
  }

  #handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const url = new URL(request.url ?? "/", "http://status.invalid");
    if (request.method !== "GET" && request.method !== "HEAD") {
      sendJson(response, 405, { error: `${request.method} is not served here: every route is GET` }, { allow: "GET, HEAD" });
      return;
    }
    const logs = /^\/services\/([^/]+)\/logs$/.exec(url.pathname);
    if (url.pathname === "/" || url.pathname === "/index.html") send(response, 200, "text/html; charset=utf-8", this.#page);
    else if (url.pathname === "/graph.svg") send(response, 200, "image/svg+xml; charset=utf-8", this.#svg);
    else if (url.pathname === "/health") this.#health(response);
    else if (url.pathname === "/services") void this.#services(response);
    else if (url.pathname === "/events") this.#subscribe(request, response, url.searchParams.get("logs") !== "0");
    else if (logs) this.#logs(response, decodeURIComponent(logs[1]!), url.searchParams.get("tail"));
    else sendJson(response, 404, { error: `Nothing at ${url.pathname}: try /, /health, /services, /services/<name>/logs or /events` });
  }

  #health(response: http.ServerResponse): void {
    const states = this.#states();
    const unhealthy = Object.fromEntries(Object.entries(states).filter(([, state]) => state !== "healthy"));
    const healthy = Object.keys(unhealthy).length === 0;
    sendJson(response, healthy ? 200 : 503, { runId: this.#run.plan.runId, healthy, services: states, ...(!healthy && { unhealthy }) });
  }

  async #services(response: http.ServerResponse): Promise<void> {
    const registry = registryOf(this.#run.plan);
    const services: Record<string, unknown> = {};
    try {
      for (const [name, controller] of this.#run.controllers) {
        const status = await new ServiceHandle(controller, new AbortController().signal).status();
        services[name] = { ...registry[name], state: stateOf(controller), status };
      }
      sendJson(response, 200, { runId: this.#run.plan.runId, services });
    } catch (error) {
      sendJson(response, 500, { error: (error as Error).message });
    }
  }

  #logs(response: http.ServerResponse, name: string, tail: string | null): void {
    const controller = this.#run.controllers.get(name);
    if (!controller) {
      sendJson(response, 404, { error: `There is no service "${name}" in run ${this.#run.plan.runId} (${[...this.#run.controllers.keys()].join(", ")})` });
      return;
    }
    const n = tail === null ? DEFAULT_TAIL : Number(tail);
    if (!Number.isInteger(n) || n < 0) {
      sendJson(response, 400, { error: `Expected \`tail\` to be a whole number of lines, got ${JSON.stringify(tail)}` });
      return;
    }
    sendJson(response, 200, controller.log.tail(n).map(logJson));
  }

  #subscribe(request: http.IncomingMessage, response: http.ServerResponse, logs: boolean): void {
    response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", connection: "keep-alive", "x-accel-buffering": "no" });
    // A late subscriber first learns where every service is: the events it missed are gone.
    let first = "retry: 1000\n\n";
    for (const [name, controller] of this.#run.controllers) {
      first += sse("state", { service: name, state: stateOf(controller), addr: controller.service.addr, current: true });
    }
    response.write(first);
    if (this.#closing) {
      response.end();
      return;
    }
    const client = { response, logs };
    this.#clients.add(client);
    request.on("close", () => this.#clients.delete(client));
  }

  #states(): Record<string, string> {
    return Object.fromEntries([...this.#run.controllers].map(([name, controller]) => [name, stateOf(controller)]));
  }
}

/** A controller's state in the words of the run's events (a service not started yet is `waiting`). */
function stateOf(controller: ServiceController): string {
  return controller.state === "pending" ? "waiting" : controller.state;
}

/** An event as JSON: every field as it is (other kinds of events carry fields of their own), its error as message and code. */
export function eventJson(event: HarnessEvent): Record<string, unknown> {
  const { error, ...rest } = event;
  if (!error) return rest;
  const { code, service } = error as Error & { code?: unknown; service?: unknown };
  return { ...rest, error: { message: error.message, ...(code !== undefined && { code }), ...(service !== undefined && { service }) } };
}

function logJson(line: LogLine): Record<string, unknown> {
  return { service: line.service, stream: line.stream, line: line.line, time: line.time.toISOString() };
}

/** One server-sent event; JSON has no raw newline, so one `data:` line carries it. */
function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function send(response: http.ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { "content-type": type, "cache-control": "no-store", "content-length": Buffer.byteLength(body), ...headers });
  response.end(response.req.method === "HEAD" ? undefined : body);
}

function sendJson(response: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  send(response, status, "application/json; charset=utf-8", `${JSON.stringify(body, null, 2)}\n`, headers);
}
