import { type ChildProcess, spawn } from "node:child_process";

/**
 * Node has no PR_SET_PDEATHSIG. So one small `sh` per harness process holds the read end of a
 * pipe from it and the lists of process groups and network interfaces it was told about: when the
 * pipe closes because the harness process died — even by SIGKILL — it deletes each interface
 * still listed (a mesh hub: that ends its wireguard-go, which would otherwise keep its tunnels
 * alive), sends SIGTERM to each group still listed, then SIGKILL a second later. Only numbers and
 * checked interface names are ever written to it.
 */
const SCRIPT = `
trap '' INT HUP
groups=""
links=""
while IFS= read -r line; do
  case "$line" in
    "+if "*) links="$links \${line#+if }" ;;
    "-if "*) kept=""; for l in $links; do [ "$l" = "\${line#-if }" ] || kept="$kept $l"; done; links=$kept ;;
    +*) groups="$groups \${line#+}" ;;
    -*) kept=""; for g in $groups; do [ "$g" = "\${line#-}" ] || kept="$kept $g"; done; groups=$kept ;;
  esac
done
for l in $links; do ip link del "$l" 2>/dev/null; done
[ -z "$groups" ] && exit 0
for g in $groups; do kill -s TERM -- "-$g" 2>/dev/null; done
sleep 1
for g in $groups; do kill -s KILL -- "-$g" 2>/dev/null; done
`;

let watchdog: ChildProcess | undefined;

function ensure(): ChildProcess {
  if (watchdog && watchdog.exitCode === null && watchdog.signalCode === null && watchdog.stdin?.writable) return watchdog;
  // Its own session: a Ctrl-C to the terminal's foreground group does not reach it.
  const child = spawn("/bin/sh", ["-c", SCRIPT], { detached: true, stdio: ["pipe", "ignore", "ignore"] });
  child.on("error", () => {});
  child.stdin!.on("error", () => {});
  // Neither the watchdog nor its pipe may keep the harness process alive.
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  watchdog = child;
  return child;
}

/** From now on, the group dies with this process. */
export function watchGroup(pgid: number): void {
  ensure().stdin!.write(`+${Math.trunc(pgid)}\n`);
}

/** The group is gone: its number may be reused by someone else, so it must not be killed later. */
export function forgetGroup(pgid: number): void {
  if (watchdog?.stdin?.writable) watchdog.stdin.write(`-${Math.trunc(pgid)}\n`);
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** From now on, the interface is deleted when this process dies. */
export function watchInterface(ifname: string): void {
  if (IFNAME.test(ifname)) ensure().stdin!.write(`+if ${ifname}\n`);
}

/** The interface is gone: a later one of the same name is not ours to delete. */
export function forgetInterface(ifname: string): void {
  if (IFNAME.test(ifname) && watchdog?.stdin?.writable) watchdog.stdin.write(`-if ${ifname}\n`);
}
