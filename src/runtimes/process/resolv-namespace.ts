import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { resolvConf } from "../../dns/host-resolvers.js";
import { StartError } from "../../errors.js";
import { processStartTime } from "../../host/proc-stat.js";
import { forgetGroup, watchGroup } from "../../host/watchdog.js";
import type { Plan } from "../../plan/plan.js";
import type { RunState } from "../../state/run-state.js";
import { terminateGroup } from "./process-group.js";

/** Makes a private mount namespace, binds the run's resolv.conf over /etc/resolv.conf in it, then sleeps there. */
const HOLD = 'mount --bind "$0" /etc/resolv.conf && echo ready && exec sleep infinity';

/**
 * The mount namespace of a run's local processes that resolve through its DNS server
 * (`network.dns`, as root, on port 53: resolv.conf has no port): made once per run and DNS server
 * address, and held by a sleeping process of its own; each service enters it by `nsenter` (one exec
 * more than the service alone, where a namespace of its own cost three: unshare, sh and mount).
 * The network namespace is the host's. The holder is recorded and watched like a service's group,
 * so a crash leaves nothing, and it ends when the run's process runtime is disposed.
 */
export class ResolvNamespaces {
  readonly #held = new Map<string, Promise<ChildProcess>>();

  constructor(
    private readonly plan: Plan,
    private readonly state: RunState | undefined,
  ) {}

  /** The DNS server a local service is to resolve through; undefined when it gets `HARNESS_DNS` only. */
  serverOf(service: string): string | undefined {
    const dns = this.plan.dns;
    if (dns?.port !== 53 || process.getuid?.() !== 0) return undefined;
    return dns.serverOf[service];
  }

  /** The argv that runs `argv` in the namespace of `server`, in `cwd`: made on first use. */
  async wrap(server: string, argv: readonly string[], cwd: string, service: string): Promise<string[]> {
    const holder = await this.#holder(server, service);
    return ["nsenter", "-t", String(holder.pid), "-m", `--wd=${cwd}`, "--", ...argv];
  }

  /** Starts holding each namespace ahead (the first service then does not wait for it). */
  prepare(): void {
    for (const service of Object.keys(this.plan.services)) {
      const server = this.serverOf(service);
      if (server !== undefined) this.#holder(server, service).catch(() => {});
    }
  }

  /** Ends every holder; each namespace goes with it. */
  async close(): Promise<void> {
    const held = await Promise.allSettled(this.#held.values());
    this.#held.clear();
    for (const result of held) {
      if (result.status !== "fulfilled") continue;
      const holder = result.value;
      const pid = holder.pid!;
      const exited = () => holder.exitCode !== null || holder.signalCode !== null;
      await terminateGroup(pid, 1_000, { exited, exit: once(holder, "exit").catch(() => {}) });
      forgetGroup(pid);
      this.state?.forget("process", String(pid));
    }
  }

  #holder(server: string, service: string): Promise<ChildProcess> {
    let holder = this.#held.get(server);
    if (!holder) {
      holder = this.#hold(server, service);
      this.#held.set(server, holder);
    }
    return holder;
  }

  async #hold(server: string, service: string): Promise<ChildProcess> {
    const dns = this.plan.dns!;
    const file = path.join(this.plan.runDir, `resolv-${server}.conf`);
    fs.mkdirSync(this.plan.runDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, resolvConf(server, dns.domain), { mode: 0o644 });
    const child = spawn("unshare", ["-m", "--propagation", "private", "sh", "-c", HOLD, file], { detached: true, stdio: ["ignore", "pipe", "pipe"] });
    if (child.pid !== undefined) watchGroup(child.pid);
    child.on("error", () => {});
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const ready = new Promise<boolean>((resolve) => {
      child.stdout!.once("data", () => resolve(true));
      child.once("exit", () => resolve(false));
      child.once("error", () => resolve(false));
    });
    if (child.pid !== undefined) this.state?.record({ kind: "process", id: String(child.pid), pgid: child.pid, startedAt: processStartTime(child.pid), role: "resolv namespace" });
    if (!(await ready)) {
      if (child.pid !== undefined) {
        forgetGroup(child.pid);
        this.state?.forget("process", String(child.pid));
      }
      throw new StartError(
        `Service "${service}" could not get a resolv.conf of its own (network.dns): unshare -m and mount --bind failed (${stderr.trim() || "no output"}); run the harness as root with util-linux installed, or read HARNESS_DNS instead`,
        { code: "E_DNS_PRIVILEGE", service },
      );
    }
    // Nothing more is read: the holder only sleeps.
    child.stdout!.destroy();
    child.stderr!.destroy();
    child.unref();
    return child;
  }
}
