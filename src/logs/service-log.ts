import fs from "node:fs";
import { StringDecoder } from "node:string_decoder";

export interface LogLine {
  service: string;
  stream: "stdout" | "stderr";
  line: string;
  time: Date;
}

export interface LogsOptions {
  /** Keep yielding new lines until the service is stopped or the loop breaks. Default: false. */
  follow?: boolean;
  /** Start with the last `tail` lines kept so far. Default: all kept lines (up to 10 000). */
  tail?: number;
  /** Ends a follow early. */
  signal?: AbortSignal;
}

const KEPT_LINES = 10_000;

/**
 * One service's log: every line its runtime hands in goes to the log file, to a ring of recent
 * lines (for `tail` and error messages), and to every live follower. It outlives restarts.
 */
export class ServiceLog {
  readonly #lines: LogLine[] = [];
  readonly #followers = new Set<(line: LogLine | null) => void>();
  readonly #partial = { stdout: "", stderr: "" };
  // A chunk may end inside a multi-byte character; the decoder keeps those bytes for the next one.
  readonly #decoders = { stdout: new StringDecoder("utf8"), stderr: new StringDecoder("utf8") };
  #total = 0;
  #file: fs.WriteStream | undefined;
  #closed = false;

  constructor(
    readonly service: string,
    readonly filePath: string | undefined,
  ) {}

  /** Hands raw output of one stream in; splits it into lines. */
  write(stream: "stdout" | "stderr", chunk: Buffer | string): void {
    const text = this.#partial[stream] + (typeof chunk === "string" ? chunk : this.#decoders[stream].write(chunk));
    const parts = text.split("\n");
    this.#partial[stream] = parts.pop()!;
    for (const part of parts) this.push(stream, part.endsWith("\r") ? part.slice(0, -1) : part);
  }

  /** Emits what is left of an unfinished last line. */
  flush(): void {
    for (const stream of ["stdout", "stderr"] as const) {
      this.#partial[stream] += this.#decoders[stream].end();
      if (this.#partial[stream] !== "") this.push(stream, this.#partial[stream]);
      this.#partial[stream] = "";
    }
  }

  push(stream: "stdout" | "stderr", line: string): void {
    if (this.#closed) return;
    const entry: LogLine = { service: this.service, stream, line, time: new Date() };
    this.#lines.push(entry);
    this.#total++;
    // Trimmed in batches: a splice per line past the cap costs O(KEPT_LINES) for every line of a chatty service.
    if (this.#lines.length >= 2 * KEPT_LINES) this.#lines.splice(0, this.#lines.length - KEPT_LINES);
    if (this.filePath !== undefined) {
      this.#file ??= fs.createWriteStream(this.filePath, { flags: "a", mode: 0o600 });
      this.#file.write(`${line}\n`);
    }
    for (const follower of this.#followers) follower(entry);
  }

  /** The last `n` lines, oldest first. */
  tail(n = KEPT_LINES): LogLine[] {
    return n <= 0 ? [] : this.#lines.slice(-Math.min(n, KEPT_LINES));
  }

  /** How many lines were ever pushed: a position to read from with `since`. */
  get position(): number {
    return this.#total;
  }

  /** The kept lines pushed at or after `position`. */
  since(position: number): LogLine[] {
    const available = Math.min(this.#total - position, this.#lines.length, KEPT_LINES);
    return available <= 0 ? [] : this.#lines.slice(-available);
  }

  /** Calls `listener` for every new line; returns the unsubscribe function. */
  subscribe(listener: (line: LogLine) => void): () => void {
    const wrapped = (line: LogLine | null) => line && listener(line);
    this.#followers.add(wrapped);
    return () => this.#followers.delete(wrapped);
  }

  async *lines(options: LogsOptions = {}): AsyncGenerator<LogLine> {
    const queue: (LogLine | null)[] = [];
    let wake: (() => void) | undefined;
    const follower = (line: LogLine | null) => {
      queue.push(line);
      wake?.();
    };
    // Subscribe before reading the ring so that no line falls between the two.
    if (options.follow && !this.#closed) this.#followers.add(follower);
    const onAbort = () => follower(null);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      yield* this.tail(options.tail);
      if (!options.follow || this.#closed || options.signal?.aborted) return;
      for (;;) {
        while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        const next = queue.shift()!;
        if (next === null) return;
        yield next;
      }
    } finally {
      this.#followers.delete(follower);
      options.signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Ends every current follower (the service stopped or exited) but keeps the log open: a restart
   * writes on, and a later `lines()` still reads what was kept.
   */
  endFollowers(): void {
    for (const follower of this.#followers) follower(null);
    this.#followers.clear();
  }

  /** Ends every follower and closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    for (const follower of this.#followers) follower(null);
    this.#followers.clear();
    const file = this.#file;
    if (file) await new Promise<void>((resolve) => file.end(resolve));
  }
}
