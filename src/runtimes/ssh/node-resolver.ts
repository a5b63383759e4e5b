/**
 * A node's resolver pointed at the run's DNS server (`dns: true` on a node service, `network.dns`):
 * its /etc/resolv.conf is recorded in the run's state before it changes, put back when the run
 * stops, and by the reaper after a crash (only while the file still is the run's).
 */
import { HarnessError, StartError } from "../../errors.js";
import { resolvConf } from "../../dns/host-resolvers.js";
import { shellQuote as q } from "../../host/shell-quote.js";
import type { Plan, PlannedService } from "../../plan/plan.js";
import type { SshConnection } from "../../ssh/ssh-connection.js";
import type { RemoteResourceNode } from "../../ssh/node-record.js";
import type { RunState } from "../../state/run-state.js";

export const RESOLVER_KIND = "remote-resolver";
const FILE = "/etc/resolv.conf";

/** Checks, creating nothing, that the node's resolver can be changed: port 53, and root there. */
export async function checkResolverRights(service: PlannedService, connection: SshConnection): Promise<void> {
  const dns = service.env.HARNESS_DNS;
  if (dns === undefined) return;
  if (!dns.endsWith(":53")) {
    throw new StartError(
      `Service "${service.name}" has \`dns: true\`, but the run's DNS server is on port ${dns.split(":")[1]} (\`network.dnsPort\`), which a resolv.conf cannot name: leave \`network.dnsPort\` at 53 (as root), or drop \`dns\` and use HARNESS_DNS`,
      { code: "E_CONFIG", service: service.name },
    );
  }
  const result = await connection.runAsRoot(`test -w ${FILE} || test ! -e ${FILE}`);
  if (result.code !== 0) {
    throw new StartError(
      `Service "${service.name}" has \`dns: true\`, but ${connection.label} does not let meshbed change its ${FILE} (${result.stderr.trim() || `exit ${result.code}`}): log in as root or give the user passwordless sudo (\`sudo -n\`), or drop \`dns\` (the service then has HARNESS_DNS only)`,
      { code: "E_DNS_PRIVILEGE", service: service.name },
    );
  }
}

/** Points the node's resolver at the run's server; resolves the node's record (for `restoreResolver`). */
export async function pointResolver(service: PlannedService, plan: Plan, connection: SshConnection, state: RunState, node: RemoteResourceNode): Promise<string> {
  const server = plan.dns!.serverOf[service.name]!;
  const current = await connection.runAsRoot(`cat ${FILE} 2>/dev/null || true`);
  const wanted = resolvConf(server, plan.dns!.domain);
  // The run's file already (a restart): the recorded original stays.
  if (current.stdout === wanted) return connection.label;
  state.record({ kind: RESOLVER_KIND, service: service.name, id: connection.label, node, original: current.stdout, domain: plan.dns!.domain });
  const result = await connection.runAsRoot(`printf '%s' ${q(wanted)} > ${FILE}`);
  if (result.code !== 0) {
    throw new StartError(`Service "${service.name}": ${connection.label}'s ${FILE} could not be changed: ${result.stderr.trim() || `exit ${result.code}`}`, {
      code: "E_DNS_PRIVILEGE",
      service: service.name,
    });
  }
  return connection.label;
}

/** The command that puts a node's resolver back, only while it still is the run's (names `search <domain>`). */
export function restoreResolverCommand(original: string, domain: string): string {
  return `if grep -qx ${q(`search ${domain}`)} ${FILE} 2>/dev/null; then printf '%s' ${q(original)} > ${FILE}; fi`;
}

export async function restoreResolver(connection: SshConnection, original: string, domain: string): Promise<void> {
  const result = await connection.runAsRoot(restoreResolverCommand(original, domain));
  if (result.code !== 0) throw new HarnessError(`${connection.label}'s ${FILE} could not be put back: ${result.stderr.trim() || `exit ${result.code}`}`, { code: "E_STOP_FAILED" });
}
