/**
 * The stages a chunk passes on one direction of one proxied connection, one per toxic (latency,
 * bandwidth, slicer, and the holds of timeout and reset_peer): each takes items and hands them on
 * when they are due. Their arithmetic is in toxics.ts; the connection that chains them is edge-proxy.ts.
 */
import { type ActiveToxic, type Toxic, TokenBucket, dueAt, latencyDelay, sliceSizes } from "./toxics.js";

export type Item = Buffer | typeof END;
/** The end of a direction's data (the sender's FIN), which passes the toxics in order like data. */
export const END = Symbol("end");

/** What a toxic may do to its connection. */
export interface ConnectionControl {
  /** Closes both sides gracefully (FIN), dropping what the toxics hold. */
  close(): void;
  /** Resets both sides (RST). */
  reset(): void;
}

/** One toxic on one direction of one connection: takes items, hands them on (`out`) when due. */
export abstract class Stage {
  protected stopped = false;
  constructor(
    readonly id: string,
    protected readonly out: (item: Item) => void,
  ) {}
  abstract push(item: Item): void;
  /** Stops its timers and returns what it holds, oldest first. */
  abstract takeAll(): Item[];
}

class LatencyStage extends Stage {
  #queue: { item: Item; at: number }[] = [];
  #lastDue = 0;
  #timer: NodeJS.Timeout | undefined;
  constructor(
    id: string,
    out: (item: Item) => void,
    private readonly toxic: Extract<Toxic, { type: "latency" }>,
  ) {
    super(id, out);
  }
  push(item: Item): void {
    const now = performance.now();
    this.#lastDue = dueAt(now, latencyDelay(this.toxic.latencyMs, this.toxic.jitterMs ?? 0, Math.random), this.#lastDue);
    this.#queue.push({ item, at: this.#lastDue });
    if (this.#queue.length === 1) this.#schedule(now);
  }
  #schedule(now: number): void {
    const head = this.#queue[0];
    if (head && !this.stopped) this.#timer = unref(setTimeout(this.#release, Math.max(0, head.at - now)));
  }
  #release = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    // Node's timers have a resolution of 1 ms: what is due within it goes now.
    while (!this.stopped && this.#queue.length > 0 && this.#queue[0]!.at <= now + 1) this.out(this.#queue.shift()!.item);
    this.#schedule(now);
  };
  takeAll(): Item[] {
    this.stopped = true;
    clearTimeout(this.#timer);
    return this.#queue.splice(0).map((q) => q.item);
  }
}

class BandwidthStage extends Stage {
  #queue: Item[] = [];
  #offset = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #bucket: TokenBucket;
  constructor(id: string, out: (item: Item) => void, toxic: Extract<Toxic, { type: "bandwidth" }>) {
    super(id, out);
    this.#bucket = new TokenBucket(toxic.bytesPerSecond, performance.now());
  }
  push(item: Item): void {
    this.#queue.push(item);
    if (!this.#timer) this.#pump();
  }
  #pump = (): void => {
    this.#timer = undefined;
    while (!this.stopped && this.#queue.length > 0) {
      const head = this.#queue[0]!;
      if (head === END) {
        this.#queue.shift();
        this.out(END);
        continue;
      }
      const bytes = Math.min(head.length - this.#offset, this.#bucket.slice);
      const now = performance.now();
      if (!this.#bucket.take(now, bytes)) {
        this.#timer = unref(setTimeout(this.#pump, Math.max(1, this.#bucket.waitMs(now, bytes))));
        return;
      }
      const piece = head.subarray(this.#offset, this.#offset + bytes);
      this.#offset += bytes;
      if (this.#offset === head.length) {
        this.#queue.shift();
        this.#offset = 0;
      }
      this.out(piece);
    }
  };
  takeAll(): Item[] {
    this.stopped = true;
    clearTimeout(this.#timer);
    const held = this.#queue.splice(0);
    if (held[0] instanceof Buffer) held[0] = held[0].subarray(this.#offset);
    return held;
  }
}

class SlicerStage extends Stage {
  #queue: Item[] = [];
  #timer: NodeJS.Timeout | undefined;
  #lastOut = Number.NEGATIVE_INFINITY;
  constructor(
    id: string,
    out: (item: Item) => void,
    private readonly toxic: Extract<Toxic, { type: "slicer" }>,
  ) {
    super(id, out);
  }
  push(item: Item): void {
    if (item === END) this.#queue.push(END);
    else {
      let at = 0;
      for (const size of sliceSizes(item.length, this.toxic.averageSize, this.toxic.sizeVariation ?? 0, Math.random)) {
        this.#queue.push(item.subarray(at, at + size));
        at += size;
      }
    }
    if (!this.#timer) this.#pump();
  }
  #pump = (): void => {
    this.#timer = undefined;
    const delay = this.toxic.delayMs ?? 0;
    while (!this.stopped && this.#queue.length > 0) {
      const now = performance.now();
      // A piece waits `delayMs` after the one before it, within the 1 ms resolution of timers.
      const wait = this.#lastOut + delay - now;
      if (delay > 0 && wait > 1) {
        this.#timer = unref(setTimeout(this.#pump, wait));
        return;
      }
      this.#lastOut = now;
      this.out(this.#queue.shift()!);
    }
  };
  takeAll(): Item[] {
    this.stopped = true;
    clearTimeout(this.#timer);
    return this.#queue.splice(0);
  }
}

/** Holds everything (timeout, reset_peer); after `afterMs` (when given) acts on the connection. */
class HoldStage extends Stage {
  #queue: Item[] = [];
  readonly #timer: NodeJS.Timeout | undefined;
  constructor(id: string, out: (item: Item) => void, afterMs: number | undefined, action: () => void) {
    super(id, out);
    if (afterMs !== undefined) this.#timer = unref(setTimeout(action, afterMs));
  }
  push(item: Item): void {
    this.#queue.push(item);
  }
  takeAll(): Item[] {
    this.stopped = true;
    clearTimeout(this.#timer);
    return this.#queue.splice(0);
  }
}

export function makeStage(active: ActiveToxic, out: (item: Item) => void, control: ConnectionControl): Stage {
  const { id, toxic } = active;
  switch (toxic.type) {
    case "latency":
      return new LatencyStage(id, out, toxic);
    case "bandwidth":
      return new BandwidthStage(id, out, toxic);
    case "slicer":
      return new SlicerStage(id, out, toxic);
    case "timeout":
      // 0: never closes; data waits until the toxic is removed.
      return new HoldStage(id, out, toxic.timeoutMs ? toxic.timeoutMs : undefined, () => control.close());
    case "reset_peer":
      return new HoldStage(id, out, toxic.timeoutMs ?? 0, () => control.reset());
  }
}

export function unref(timer: NodeJS.Timeout): NodeJS.Timeout {
  timer.unref();
  return timer;
}
