/**
 * Test runners and Ctrl-C do not await a harness's teardown: on SIGINT, SIGTERM or SIGHUP every
 * live run is stopped before the process goes, and on `exit` whatever is left is killed at once.
 */
export interface Stoppable {
  stop(): Promise<unknown>;
  /** Synchronous last resort, for the `exit` event. */
  killNow(): void;
}

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
const STOP_ON_SIGNAL_MS = 15_000;
const live = new Set<Stoppable>();
let installed = false;

let uninstall: NodeJS.Timeout | undefined;

export function track(run: Stoppable): void {
  live.add(run);
  clearTimeout(uninstall);
  if (installed) return;
  installed = true;
  for (const signal of SIGNALS) process.on(signal, onSignal);
  process.on("exit", onExit);
  // A test runner's worker (vitest's forks, jest-worker) hears from its parent over IPC. When the
  // parent dies — SIGTERMed, say — the channel closes and the worker is not signalled: it runs its
  // test on, orphaned, and would keep the topology of a per-file fixture alive with it.
  if (process.connected) process.on("disconnect", onParentGone);
}

/**
 * The listeners go a second after the last run stopped, not at once: a next run (a test's, a
 * restart loop's) keeps them, and each install and removal is three `sigaction` calls. Meanwhile a
 * signal does what it would have done without them (`onSignal`, with no run left).
 */
export function untrack(run: Stoppable): void {
  live.delete(run);
  if (live.size > 0 || !installed) return;
  clearTimeout(uninstall);
  uninstall = setTimeout(() => {
    if (live.size > 0 || !installed) return;
    installed = false;
    for (const signal of SIGNALS) process.off(signal, onSignal);
    process.off("exit", onExit);
    process.off("disconnect", onParentGone);
  }, 1_000).unref();
}

async function onSignal(signal: NodeJS.Signals): Promise<void> {
  // Counted now: a listener of the user's (a CLI, a test runner) decides what the signal does.
  const alone = process.listenerCount(signal) === 1;
  await stopLiveRuns();
  // Nobody else listens: do what the signal would have done without us.
  if (alone) {
    clearTimeout(uninstall);
    installed = false;
    for (const s of SIGNALS) process.off(s, onSignal);
    process.off("exit", onExit);
    process.off("disconnect", onParentGone);
    process.kill(process.pid, signal);
  }
}

/** The IPC parent is gone: stop every live run, and leave the process be (it is not ours). */
async function onParentGone(): Promise<void> {
  await stopLiveRuns();
}

/** Stops every live run, for at most STOP_ON_SIGNAL_MS, then kills whatever is left of them. */
async function stopLiveRuns(): Promise<void> {
  const runs = [...live];
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.allSettled(runs.map((run) => run.stop())), new Promise((resolve) => (timer = setTimeout(resolve, STOP_ON_SIGNAL_MS)))]);
  clearTimeout(timer);
  for (const run of runs) run.killNow();
}

function onExit(): void {
  for (const run of live) run.killNow();
}
