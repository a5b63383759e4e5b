/**
 * At most `size` channels open at once on one connection: OpenSSH refuses the 11th session
 * (`MaxSessions` 10), so callers beyond the limit wait their turn instead of failing.
 */
export class ChannelLimit {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(readonly size: number) {
    this.#free = size;
  }

  /** Resolves a release function once a channel may be opened; rejects if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener("abort", onAbort);
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.#release();
        });
      };
      const onAbort = () => {
        const i = this.#waiting.indexOf(grant);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(signal!.reason);
      };
      if (this.#free > 0) {
        this.#free--;
        grant();
        return;
      }
      this.#waiting.push(grant);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** How many channels are open (for tests and debugging). */
  get inUse(): number {
    return this.size - this.#free;
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}
