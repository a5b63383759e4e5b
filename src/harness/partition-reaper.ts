// The firewall reaper lives in src/faults/ now; src/state/reap.ts still loads it by this path
// until its registration moves beside src/runtimes/load-runtime.ts.
export { reapFirewall } from "../faults/partition-reaper.js";
