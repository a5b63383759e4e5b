import type { HarnessEvent, StartOptions, TopologySpec } from "../topology/types.js";
import { debugFor } from "../debug.js";
import { deadlineSignal } from "../host/deadline-signal.js";
import { reapOrphans } from "../runtimes/reapers.js";
import { clearMarks, deadOwnerMarks } from "../state/owner-marks.js";
import { RunState } from "../state/run-state.js";
import { listRuns } from "../state/runs.js";
import { loadRuntimes, planTopology } from "./gather-facts.js";
import { Run } from "./run.js";
import { RunEvents } from "./run-events.js";

const log = debugFor("harness");
const REAP_RETRY_MS = 10 * 60_000;

/**
 * Plans (nothing created yet), checks every service (still nothing created), then starts. If any
 * service fails, everything already started is stopped before the error is thrown. The `Harness`
 * around the run is made by harness.ts (which imports this file, not the other way round).
 */
export async function startRun(spec: TopologySpec, options: StartOptions): Promise<Run> {
  // What crashed runs left is reaped on the side: it never delays or fails this start. Only when a
  // crash happened (an owner's mark outlived it, owner-marks.ts): otherwise no run's state is read.
  // A run that could not be reaped (its node unreachable, an engine that refuses) is tried again at
  // most every 10 minutes: until then its owner's mark is deferred, and no start scans for it.
  const crashed = deadOwnerMarks();
  if (crashed.length > 0) {
    void reapOrphans(undefined, { retryAfterMs: REAP_RETRY_MS })
      .then(() => clearMarks(crashed, listRuns(), REAP_RETRY_MS))
      .catch(() => {});
  }
  const runtimes = await loadRuntimes(spec);
  const plan = await planTopology(spec, runtimes).catch(async (error: unknown) => {
    // Facts may have opened connections (SSH reads a node's free ports): close them.
    await Promise.allSettled([...runtimes.values()].map((r) => r.dispose?.()));
    throw error;
  });
  log(`run ${plan.runId}: ${Object.keys(plan.services).length} services, levels ${JSON.stringify(plan.levels)}, state dir ${plan.runDir}`);
  // The mesh is network set-up, not a runtime: made by the run when the plan needs it.
  const mesh = plan.meshNeeded ? new (await import("../mesh/mesh-setup.js")).MeshSetup(plan, spec.options.network ?? {}) : undefined;
  try {
    await Promise.all(
      Object.values(plan.services).map((s) => {
        const check = () => runtimes.get(s.target)!.preflight(s);
        // A wireguard service makes this host the mesh's hub: that is checked first, then its node.
        return mesh && s.target === "wireguard" ? mesh.preflight(s, check) : check();
      }),
    );
  } catch (error) {
    // Preflight may have opened connections (SSH logs in to check a node): close them.
    await Promise.allSettled([...runtimes.values()].map((r) => r.dispose?.()));
    throw error;
  }

  const deadline = options.timeoutMs === undefined ? undefined : deadlineSignal(options.timeoutMs, options.signal);
  const signal = deadline?.signal ?? options.signal ?? new AbortController().signal;
  const state = RunState.create(plan.runDir, plan.runId);
  const events = new RunEvents();
  const emit = (event: HarnessEvent) => {
    log(`${event.service}: ${event.state}${event.addr && event.state === "healthy" ? ` at ${event.addr}` : ""}${event.error ? ` (${event.error.message.split("\n")[0]})` : ""}`);
    if (event.state !== "fault" && event.state !== "healed") state.noteService(event.service, event.state);
    options.onEvent?.(event);
    events.publish(event);
  };
  for (const name of plan.levels.flat()) emit({ service: name, state: "waiting", addr: plan.services[name]!.addr });

  const run = new Run(plan, state, runtimes, emit, mesh, events);
  try {
    // Up before the first service starts: a page or `curl /health` watches the start.
    const statusPort = spec.options.network?.statusPort;
    if (statusPort !== undefined) await run.serveStatus(statusPort);
    await run.startAll(signal);
    deadline?.clear();
  } catch (error) {
    deadline?.clear();
    await run.stop().catch((stopError: unknown) => {
      if (error instanceof Error) (error as Error & { stopError?: unknown }).stopError = stopError;
    });
    throw error;
  }
  return run;
}
