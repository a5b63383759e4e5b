import { execFile, execFileSync } from "node:child_process";
import { HarnessError } from "../errors.js";
import { type Argv, hostChainRemoval } from "./partition-rules.js";

/** `iptables -w …` on the harness host (no shell); rejects with its stderr. */
export function iptables(args: Argv): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("iptables", ["-w", ...args], { encoding: "utf8" }, (error, _stdout, stderr) => {
      if (!error) return resolve();
      reject(new HarnessError(`iptables ${args.join(" ")} failed: ${stderr.trim() || error.message}`, { code: "E_FIREWALL", cause: error }));
    });
  });
}

/** `iptables -w …` on the harness host, synchronously (for the process's `exit`); throws if it fails. */
export function iptablesNow(args: Argv): void {
  execFileSync("iptables", ["-w", ...args], { stdio: "ignore" });
}

/** Removes the jumps to the run's host chains, then the chains; what is already gone is fine. */
export async function removeHostChains(chain: string): Promise<void> {
  const removal = hostChainRemoval(chain);
  for (const { unhook, flush, remove } of removal) {
    // One jump was inserted, but a crash between two runs of insert could have left more.
    for (let i = 0; i < 10; i++) {
      if (!(await iptables(unhook).then(() => true, () => false))) break;
    }
    await iptables(flush).catch(() => {});
    await iptables(remove).catch(() => {});
  }
  const left = await listChains();
  const still = removal.map((r) => r.chain).filter((n) => left.includes(n));
  if (still.length > 0) throw new Error(`chains ${still.join(", ")} are still there`);
}

function listChains(): Promise<string[]> {
  return new Promise((resolve) => {
    execFile("iptables", ["-w", "-S"], { encoding: "utf8" }, (error, stdout) => {
      resolve(error ? [] : [...stdout.matchAll(/^-N (\S+)$/gm)].map((m) => m[1]!));
    });
  });
}
