import { debugFor } from "../debug.js";
import type { HarnessEvent } from "../topology/types.js";

const log = debugFor("harness");

/**
 * The run's events, for whoever subscribes after the start (`harness.onEvent`, the status
 * server): every event the run's `emit` sends (start.ts), extra fields and all.
 */
export class RunEvents {
  readonly #listeners = new Set<(event: HarnessEvent) => void>();

  publish(event: HarnessEvent): void {
    for (const listener of this.#listeners) {
      // A listener's bug must not break the run that emits.
      try {
        listener(event);
      } catch (error) {
        log(`an event listener threw on ${event.service}: ${event.state}: ${(error as Error).message}`);
      }
    }
  }

  /** Calls `listener` with every later event; returns the unsubscribe function. */
  subscribe(listener: (event: HarnessEvent) => void): () => void {
    // Wrapped, so that one function subscribed twice is two subscriptions, each undone on its own.
    const own = (event: HarnessEvent) => listener(event);
    this.#listeners.add(own);
    return () => {
      this.#listeners.delete(own);
    };
  }
}
