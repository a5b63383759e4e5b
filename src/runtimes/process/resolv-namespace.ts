import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import { HarnessError } from "../../errors.js";
import { processStartTime } from "../../host/proc-stat.js";
import { shellQuote } from "../../host/shell-quote.js";
import { forgetGroup, watchGroup } from "../../host/watchdog.js";
import type { RunState } from "../../state/run-state.js";
import { signalGroup } from "./process-group.js";

/**
 * How a namespace is made and entered: busybox's applets where there is a busybox (one exec each,
 * and a static one starts in about 1 ms, against 6–9 ms for util-linux's `unshare`, `sh` and
 * `mount` in turn), else util-linux's `unshare`, `nsenter` and `mount`.
 */
export interface NamespaceTools {
  /** The command and the arguments before an applet's name: `["/bin/busybox"]`, or `[]`. */
  readonly prefix: readonly string[];
}

const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"].find((file) => fs.existsSync(file));

export const busyboxTools: NamespaceTools | undefined = BUSYBOX === undefined ? undefined : { prefix: [BUSYBOX] };
export const utilLinuxTools: NamespaceTools = { prefix: [] };

/** After how long a holder that was told to end is killed. */
const CLOSE_GRACE_MS = 2000;

/**
 * A private mount namespace (the same network) where the run's `/etc/resolv.conf` for one view of
 * its names is bound over the host's: the processes of that view resolve through the run's DNS
 * server. Made once per view while the server comes up, held by a small shell that waits on a pipe
 * from the harness (so it ends with the harness, even a SIGKILLed one; it is also recorded and
 * watched as a process group), and entered by each process with `nsenter -m`, which execs the
 * binary: the pid stays the service's.
 */
export class ResolvNamespace {
  readonly #holder: ChildProcess;
  readonly #ready: Promise<number>;
  readonly #state: RunState;
  readonly #tools: NamespaceTools;

  private constructor(holder: ChildProcess, ready: Promise<number>, state: RunState, tools: NamespaceTools) {
    this.#holder = holder;
    this.#ready = ready;
    this.#state = state;
    this.#tools = tools;
  }

  /**
   * Starts the holder of a namespace with `file` as its `/etc/resolv.conf`, for `services` (named in
   * an error); returns at once, `ready()` says when it can be entered.
   */
  static open(file: string, options: { runId: string; services: readonly string[]; state: RunState; tools?: NamespaceTools }): ResolvNamespace {
    const tools = options.tools ?? busyboxTools ?? utilLinuxTools;
    const mount = [...tools.prefix, "mount"].map(shellQuote).join(" ");
    // `read` ends when the harness closes the pipe (its stop, or its death).
    const script = `${mount} --bind "$0" /etc/resolv.conf && echo ready && read _`;
    const sh = tools.prefix.length > 0 ? [tools.prefix[0]!, "sh"] : ["sh"];
    const [command, ...args] = [...tools.prefix, "unshare", "-m", "--propagation", "private", ...sh, "-c", script, file];
    // Its run's id in its env: the watchdog finds it by that too, were it killed before the group is listed.
    const holder = spawn(command!, args, { detached: true, stdio: ["pipe", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HARNESS_RUN_ID: options.runId } });
    holder.stdin!.on("error", () => {});
    if (holder.pid !== undefined) {
      watchGroup(holder.pid);
      options.state.record({ kind: "process", id: String(holder.pid), pgid: holder.pid, startedAt: processStartTime(holder.pid), holds: `the mount namespace of ${file}` });
    }
    const ready = new Promise<number>((resolve, reject) => {
      let output = "";
      const failed = (why: string) =>
        reject(
          new HarnessError(
            `Service "${options.services[0]}" cannot resolve names through the run's DNS server: its mount namespace (\`unshare -m\`, then \`mount --bind ${file} /etc/resolv.conf\`) could not be made: ${why}. Run the harness as root (it needs CAP_SYS_ADMIN), or leave \`network.dns\` off`,
            { code: "E_DNS_PRIVILEGE", service: options.services[0] },
          ),
        );
      holder.stdout!.on("data", (chunk: Buffer) => {
        if (chunk.includes("ready")) resolve(holder.pid!);
      });
      holder.stderr!.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      holder.once("error", (error) => failed(error.message));
      holder.once("exit", (code, signal) => failed(output.trim() || `it exited (${signal ?? `code ${code}`})`));
    });
    ready.catch(() => {});
    return new ResolvNamespace(holder, ready, options.state, tools);
  }

  /** The holder's pid once the namespace can be entered; rejects with what went wrong. */
  ready(): Promise<number> {
    return this.#ready;
  }

  /** The command and arguments that run `argv` in the namespace, in `cwd` (entering one moves to its root). */
  async enter(argv: readonly string[], cwd: string): Promise<[string, string[]]> {
    const pid = await this.#ready;
    const [command, ...args] = [...this.#tools.prefix, "nsenter", "-t", String(pid), "-m", `-w${cwd}`, "--", ...argv];
    return [command!, args];
  }

  /** Ends the holder (the namespace goes with the last process in it); once every process of it has stopped. */
  async close(): Promise<void> {
    const holder = this.#holder;
    const pid = holder.pid;
    if (pid === undefined) return;
    if (holder.exitCode === null && holder.signalCode === null) {
      const exit = once(holder, "exit");
      holder.stdin!.end();
      const timer = setTimeout(() => signalGroup(pid, "SIGKILL"), CLOSE_GRACE_MS);
      await exit;
      clearTimeout(timer);
    }
    forgetGroup(pid);
    this.#state.forget("process", String(pid));
  }
}
