import { HarnessError } from "../errors.js";
import { hostCommand, hostCommandNow } from "../host/host-command.js";
import { type Argv, hostChainRemoval } from "./partition-rules.js";

/** `iptables -w …` on the harness host (no shell); rejects with its stderr. */
export async function iptables(args: Argv): Promise<void> {
  const result = await hostCommand("iptables", ["-w", ...args]);
  if (result.code === 0) return;
  throw new HarnessError(`iptables ${args.join(" ")} failed: ${result.stderr.trim() || `exit ${result.code}`}`, { code: "E_FIREWALL", cause: result.error });
}

/**
 * `iptables -w …` on the harness host, synchronously (for the process's `exit`); false if it failed.
 * No time limit: `-w` waits for the xtables lock.
 */
export function iptablesNow(args: Argv): boolean {
  return hostCommandNow("iptables", ["-w", ...args], { timeoutMs: 0 });
}

/** Removes the jumps to the run's host chains, then the chains; what is already gone is fine. */
export async function removeHostChains(chain: string): Promise<void> {
  const removal = hostChainRemoval(chain);
  for (const { unhook, flush, remove } of removal) {
    // One jump was inserted, but a crash between two runs of insert could have left more.
    for (let i = 0; i < 10; i++) {
      if (
        !(await iptables(unhook).then(
          () => true,
          () => false,
        ))
      )
        break;
    }
    await iptables(flush).catch(() => {});
    await iptables(remove).catch(() => {});
  }
  const left = await listChains();
  const still = removal.map((r) => r.chain).filter((n) => left.includes(n));
  if (still.length > 0) throw new HarnessError(`chains ${still.join(", ")} are still there`, { code: "E_FIREWALL" });
}

async function listChains(): Promise<string[]> {
  const result = await hostCommand("iptables", ["-w", "-S"]);
  return result.code !== 0 ? [] : [...result.stdout.matchAll(/^-N (\S+)$/gm)].map((m) => m[1]!);
}
