import type { HarnessEvent } from "../topology/types.js";

/** Where the progress goes: stdout, or a stand-in in tests. */
export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  /** The terminal's width: a live line longer than it would wrap, and rewriting in place would miss. */
  columns?: number;
}

const MARKS: Partial<Record<HarnessEvent["state"], string>> = { waiting: "·", starting: "…", healthy: "✓", failed: "✗", exited: "✗", stopping: "…", stopped: "-" };
const COLORS: Partial<Record<HarnessEvent["state"], number>> = { waiting: 90, starting: 33, healthy: 32, failed: 31, exited: 31, stopping: 33, stopped: 90 };

/**
 * One line per service while a topology starts (waiting, starting, healthy, failed). On a TTY
 * each service's line is rewritten in place with ANSI cursor moves; otherwise every change is a
 * plain line of its own, for logs and CI. `finish()` ends the live block, before anything else is
 * printed under it.
 */
export class StartProgress {
  readonly #out: ProgressOutput;
  readonly #live: boolean;
  readonly #rows: string[] = [];
  readonly #failed = new Set<string>();
  #done = false;

  constructor(out: ProgressOutput, live = out.isTTY === true) {
    this.#out = out;
    this.#live = live;
  }

  update(event: HarnessEvent): void {
    // A fault on an edge is not a state of its caller's.
    if (event.state === "fault" || event.state === "healed") return;
    // A failed service keeps its line: the stop that follows a failure is not news.
    if (this.#failed.has(event.service) && (event.state === "stopping" || event.state === "stopped")) return;
    if (event.state === "failed") this.#failed.add(event.service);
    const text = this.#format(event);
    if (!this.#live || this.#done) {
      this.#out.write(`${text}\n`);
      return;
    }
    const row = this.#rows.indexOf(event.service);
    if (row === -1) {
      this.#rows.push(event.service);
      this.#out.write(`${text}\n`);
      return;
    }
    // The cursor sits under the block: go up to the service's line, rewrite it, come back.
    const up = this.#rows.length - row;
    this.#out.write(`\u001b[${up}A\r\u001b[2K${text}\u001b[${up}B\r`);
  }

  /** Ends in-place rewriting: later events are plain lines. */
  finish(): void {
    this.#done = true;
  }

  #format(event: HarnessEvent): string {
    const where = event.state === "healthy" && event.addr ? ` ${event.addr}` : "";
    let why = event.error ? `: ${event.error.message.split("\n")[0]}` : "";
    if (!this.#live) return `  ${event.service.padEnd(20)} ${event.state}${where}${why}`;
    const name = `  ${event.service.padEnd(20)} `;
    const state = `${MARKS[event.state] ?? " "} ${event.state}`;
    const room = (this.#out.columns ?? Infinity) - 1 - name.length - state.length - where.length;
    if (why.length > room) why = `${why.slice(0, Math.max(0, room - 1))}…`;
    return `${name}\u001b[${COLORS[event.state] ?? 0}m${state}\u001b[0m${where}${why}`;
  }
}
