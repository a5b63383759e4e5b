/**
 * How a connection wraps a command for the node's shell: to run as root, and to be abortable.
 * Transport, not runtime: the mesh and the faults run commands as root on nodes too.
 */
import { shellQuote as q } from "../host/shell-quote.js";

/** Runs `command` as root: as it is for root, through `sudo -n` for anyone else. */
export function asRootCommand(command: string, user: string): string {
  return user === "root" ? command : `sudo -n sh -c ${q(command)}`;
}

/**
 * Wraps a command so that it can be aborted: it runs in a process group of its own, and the end
 * of the channel's stdin (which the client sends on abort) kills that group. sshd delivers SSH
 * "signal" requests only to non-root sessions, so this is how a root session is aborted.
 */
export function abortableCommand(command: string): string {
  return `exec 3<&0
if command -v setsid >/dev/null 2>&1; then setsid sh -c ${q(command)} < /dev/null & else sh -c ${q(command)} < /dev/null & fi
p=$!
{ cat <&3; kill -KILL -$p || kill -KILL $p; } > /dev/null 2>&1 & w=$!
exec 3<&-
wait $p; s=$?
kill $w 2>/dev/null
exit $s`;
}
