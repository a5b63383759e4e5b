/**
 * A signal that aborts after `ms`, or as soon as any of `parents` does. Not
 * `AbortSignal.any([s, AbortSignal.timeout(ms)])`: on Node 20 a timeout signal that only `any`
 * refers to can be garbage-collected and then never fires (a probe hung past its deadline).
 * This timer is held until `clear()`, which every caller runs when it is done.
 */
export function deadlineSignal(ms: number, ...parents: (AbortSignal | undefined)[]): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`timed out after ${ms} ms`, "TimeoutError")), ms);
  const listeners: [AbortSignal, () => void][] = [];
  for (const parent of parents) {
    if (!parent) continue;
    if (parent.aborted) {
      controller.abort(parent.reason);
      break;
    }
    const onAbort = () => controller.abort(parent.reason);
    parent.addEventListener("abort", onAbort, { once: true });
    listeners.push([parent, onAbort]);
  }
  const clear = () => {
    clearTimeout(timer);
    for (const [parent, onAbort] of listeners) parent.removeEventListener("abort", onAbort);
  };
  controller.signal.addEventListener("abort", clear, { once: true });
  return { signal: controller.signal, clear };
}
