import { type ChildProcess, spawn } from "node:child_process";

/**
 * Node has no PR_SET_PDEATHSIG. So one small `sh` per harness process holds the read end of a
 * pipe from it and the lists of runs, process groups and network interfaces it was told about:
 * when the pipe closes because the harness process died — even by SIGKILL — it deletes each
 * interface still listed (a mesh hub: that ends its wireguard-go, which would otherwise keep its
 * tunnels alive), sends SIGTERM to each group still listed and to each process of this network
 * namespace whose environment names a listed run (`HARNESS_RUN_ID`), then SIGKILL a second later.
 * The second list closes the gap between a spawn and the line that names its group: a harness
 * killed in between leaves a service the first list never heard of, but whose environment says
 * whose it is (the pipe's write end is held by the forked child until its exec, so the end of the
 * pipe comes only once that environment is in place). Only numbers, run ids and checked interface
 * names are ever written to it.
 */
const SCRIPT = `
trap '' INT HUP
groups=""
links=""
runs=""
while IFS= read -r line; do
  case "$line" in
    "+if "*) links="$links \${line#+if }" ;;
    "-if "*) kept=""; for l in $links; do [ "$l" = "\${line#-if }" ] || kept="$kept $l"; done; links=$kept ;;
    "+run "*) runs="$runs \${line#+run }" ;;
    "-run "*) kept=""; for r in $runs; do [ "$r" = "\${line#-run }" ] || kept="$kept $r"; done; runs=$kept ;;
    +*) groups="$groups \${line#+}" ;;
    -*) kept=""; for g in $groups; do [ "$g" = "\${line#-}" ] || kept="$kept $g"; done; groups=$kept ;;
  esac
done
for l in $links; do ip link del "$l" 2>/dev/null; done
[ -z "$groups$runs" ] && exit 0
own=$(readlink /proc/$$/ns/net)
of_runs() {
  for r in $runs; do grep -lzxF "HARNESS_RUN_ID=$r" /proc/[0-9]*/environ 2>/dev/null; done | while IFS= read -r f; do
    p=\${f#/proc/}; p=\${p%/environ}
    [ "$p" != "$$" ] && [ "$(readlink /proc/$p/ns/net 2>/dev/null)" = "$own" ] && echo "$p"
  done
}
for g in $groups; do kill -s TERM -- "-$g" 2>/dev/null; done
for p in $(of_runs); do kill -s TERM "$p" 2>/dev/null; done
sleep 1
for g in $groups; do kill -s KILL -- "-$g" 2>/dev/null; done
for p in $(of_runs); do kill -s KILL "$p" 2>/dev/null; done
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

const RUN_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * From now on, every process of this run on this host dies with this process, also one whose
 * group was not yet named. Called before the run's first local spawn: the watchdog is then
 * already running, and naming a group is one write.
 */
export function watchRun(runId: string): void {
  if (RUN_ID.test(runId)) ensure().stdin!.write(`+run ${runId}\n`);
}

/** The run has stopped: a later run of the same id (say, a fixed `runId` in the next process) is not ours. */
export function forgetRun(runId: string): void {
  if (RUN_ID.test(runId) && watchdog?.stdin?.writable) watchdog.stdin.write(`-run ${runId}\n`);
}
