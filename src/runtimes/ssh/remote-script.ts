/**
 * The shell commands the SSH runtime runs on a node, as pure functions of their inputs. Every
 * value that comes from the spec or the plan goes through `shellQuote`: nothing a user writes is
 * ever parsed by the node's shell. The scripts are POSIX sh (dash, bash, busybox ash).
 */
import { shellQuote as q } from "../../host/shell-quote.js";

/** Files of a service dir, relative to it. */
export const ENV_FILE = "service.env";
const PGID_FILE = "service.pgid";
const EXIT_FILE = "exit_status";
/** The process group of a package's setup.sh while it runs: what a failed start or a reaper kills. */
const SETUP_PGID_FILE = ".setup.pgid";
/** Printed (alone on a line) by `setupCommand` when setup.sh ran out of time. */
export const SETUP_TIMED_OUT = "MESHBED_SETUP_TIMED_OUT";

/** Exit codes the scripts use to say what went wrong. */
export const EXIT = { noDir: 90, noStart: 91, survived: 92 } as const;

/** Names the run a service dir belongs to, so that a reaper removes only its own run's dir. */
const RUN_FILE = ".meshbed-run";

/**
 * Makes the service dir (with `sudo -n` when the user may not, then owned by the user), ends
 * what an earlier, crashed run of the same service left running in it, empties it, makes
 * `logs/`, and marks it as `runId`'s.
 */
export function prepareDirCommand(dir: string, runId: string): string {
  return `d=${q(dir)}
if ! mkdir -p "$d" 2>/dev/null || [ ! -w "$d" ]; then
  sudo -n mkdir -p "$d" && sudo -n chown "$(id -u):$(id -g)" "$d" || { echo "cannot create $d as $(id -un), and sudo -n failed" >&2; exit ${EXIT.noDir}; }
fi
cd "$d" && chmod 700 . || exit ${EXIT.noDir}
# Only a process that still works in this dir is the old service (not a reused number).
ours() { [ -n "$1" ] && [ "$(readlink "/proc/$1/cwd" 2>/dev/null)" = "$(pwd -P)" ]; }
g=$(cat ${PGID_FILE} 2>/dev/null); ours "$g" && kill -KILL -"$g" 2>/dev/null
p=$(cat service.pid 2>/dev/null); ours "$p" && kill -KILL "$p" 2>/dev/null
find . -mindepth 1 -maxdepth 1 -exec rm -rf {} + && mkdir -p logs && echo ${q(runId)} > ${RUN_FILE}`;
}

/**
 * Starts `binary args…` with the service's env, as the leader of a new session and process group
 * (`setsid -f`: no shell `&`, so SIGINT stays deliverable), stdout and stderr to `logs/`. A small
 * sh waits for it and records its exit status. Prints the group id.
 */
export function launchBinaryCommand(dir: string, binary: string, args: readonly string[]): string {
  const wrapper = `echo $$ > ${PGID_FILE}; . ./${ENV_FILE}; "$@"; echo $? > ${EXIT_FILE}`;
  return `cd ${q(dir)} || exit ${EXIT.noDir}
rm -f ${PGID_FILE} ${EXIT_FILE}; : > logs/stdout.log; : > logs/stderr.log
setsid -f sh -c ${q(wrapper)} meshbed-service ${[binary, ...args].map(q).join(" ")} < /dev/null >> logs/stdout.log 2>> logs/stderr.log
${waitForPgid()}`;
}

/**
 * Runs the package's `scripts/start.sh <dir> <envfile>` (env already sourced) as the leader of a
 * new session, so that whatever it leaves running stays in one process group. Waits for it;
 * prints the group id and exits with start.sh's code.
 */
export function launchPackageCommand(dir: string, envFile: string): string {
  const wrapper = `echo $$ > ${PGID_FILE}; . ./${ENV_FILE}; exec "$@"`;
  return `cd ${q(dir)} || exit ${EXIT.noDir}
rm -f ${PGID_FILE}; : > logs/start.log
setsid -w sh -c ${q(wrapper)} meshbed-start ./scripts/start.sh ${q(dir)} ${q(envFile)} < /dev/null >> logs/start.log 2>&1
code=$?
cat ${PGID_FILE} 2>/dev/null
exit $code`;
}

/**
 * Runs the package's `scripts/setup.sh <dir> <envfile>` (env sourced) once, in a session and process
 * group of its own, its output appended to `logs/setup.log`; kills the whole group after `timeoutMs`
 * (then prints `MESHBED_SETUP_TIMED_OUT` and exits 124), and kills whatever of it is left when it ends: a
 * setup leaves nothing running. Exits with setup.sh's code.
 */
export function setupCommand(dir: string, envFile: string, timeoutMs: number): string {
  const wrapper = `echo $$ > ${SETUP_PGID_FILE}; . ./${ENV_FILE}; exec "$@"`;
  // Looks every 10 ms for the first 100 ms (most setups are quick), then every 100 ms; `e` counts
  // the sleeps only, so the limit is at least `timeoutMs`.
  return `cd ${q(dir)} || exit ${EXIT.noDir}
rm -f ${SETUP_PGID_FILE}
setsid -w sh -c ${q(wrapper)} meshbed-setup ./scripts/setup.sh ${q(dir)} ${q(envFile)} < /dev/null >> logs/setup.log 2>&1 &
w=$!
e=0
while kill -0 $w 2>/dev/null; do
  if [ $e -ge ${Math.max(1, Math.round(timeoutMs))} ]; then
    g=$(cat ${SETUP_PGID_FILE} 2>/dev/null); [ -n "$g" ] && kill -KILL -"$g" 2>/dev/null
    kill -KILL $w 2>/dev/null; wait $w 2>/dev/null
    rm -f ${SETUP_PGID_FILE}
    echo ${SETUP_TIMED_OUT}
    exit 124
  fi
  if [ $e -lt 100 ]; then sleep 0.01; e=$((e + 10)); else sleep 0.1; e=$((e + 100)); fi
done
wait $w; code=$?
g=$(cat ${SETUP_PGID_FILE} 2>/dev/null); [ -n "$g" ] && kill -KILL -"$g" 2>/dev/null
rm -f ${SETUP_PGID_FILE}
exit $code`;
}

function waitForPgid(): string {
  return `i=0
while [ ! -s ${PGID_FILE} ]; do
  i=$((i + 1)); [ $i -gt 200 ] && { echo "the service did not start" >&2; exit ${EXIT.noStart}; }
  sleep 0.05
done
cat ${PGID_FILE}`;
}

/** True while the service's group (or the pid a package's start.sh recorded in service.pid) lives. */
function aliveFunction(pgid: number): string {
  return `alive() { kill -0 -${pgid} 2>/dev/null || { [ -s service.pid ] && kill -0 "$(cat service.pid)" 2>/dev/null; }; }`;
}

/** Where a log stream resumes: a byte offset (from 0) into each file, or "new lines only". */
export type LogResume = { stdout: number; stderr: number } | "new-only";

/**
 * Streams the service's logs while it lives and returns once it is gone: a binary's
 * `logs/stdout.log` to stdout and `logs/stderr.log` to stderr (from byte offsets, so that a
 * reconnection neither repeats nor loses lines), a package's `logs/*.log` to stdout.
 */
export function watchCommand(dir: string, pgid: number, kind: "binary" | "package", resume: LogResume): string {
  const from = (offset: number) => `-c +${offset + 1}`;
  const tails =
    kind === "binary"
      ? `tail ${resume === "new-only" ? "-n 0" : from(resume.stdout)} -F -s 0.2 logs/stdout.log 2>/dev/null & a=$!
tail ${resume === "new-only" ? "-n 0" : from(resume.stderr)} -F -s 0.2 logs/stderr.log >&2 2>/dev/null & b=$!`
      : `tail -q ${resume === "new-only" ? "-n 0" : "-n +1"} -F -s 0.2 logs/*.log 2>/dev/null & a=$!; b=`;
  return `cd ${q(dir)} 2>/dev/null || exit 0
${aliveFunction(pgid)}
${tails}
while alive; do sleep 0.1; done
# What the service wrote last is in its files: give tail a moment to send it.
sleep 0.25
kill $a $b 2>/dev/null
wait`;
}

/**
 * One look at the service's logs, for a service that has no streaming channel: every log file's
 * bytes past the offset already read, each framed as `MBLOG <file> <length>\n` and then exactly
 * that many bytes. Exits 3 once the service is gone (checked before reading, so that the last
 * look sees everything it wrote).
 */
export function pollLogsCommand(dir: string, pgid: number, offsets: Readonly<Record<string, number>>): string {
  const cases = Object.entries(offsets)
    .map(([file, offset]) => `    ${q(file)}) o=${offset} ;;`)
    .join("\n");
  return `cd ${q(dir)} 2>/dev/null || exit 3
${aliveFunction(pgid)}
if alive; then a=0; else a=3; fi
for f in logs/*.log; do
  [ -f "$f" ] || continue
  case $f in
${cases}
    *) o=0 ;;
  esac
  n=$(($(wc -c < "$f") - o))
  if [ "$n" -gt 0 ]; then
    printf 'MBLOG %s %s\n' "$f" "$n"
    tail -c +$((o + 1)) "$f" | head -c "$n"
  fi
done
exit $a`;
}

/** The exit status the wrapper recorded, if the service ended by itself. */
export function exitStatusCommand(dir: string): string {
  return `cat ${q(`${dir}/${EXIT_FILE}`)} 2>/dev/null; true`;
}

/**
 * Stops the service: a package's `scripts/stop.sh <dir> <envfile>` (with its env), a binary's
 * SIGTERM to its group; then waits up to `graceMs` and SIGKILLs what is left. Exits 0 once
 * nothing of it is left.
 */
export function stopCommand(dir: string, envFile: string, pgid: number, graceMs: number, kind: "binary" | "package"): string {
  const ticks = Math.max(1, Math.ceil(graceMs / 100));
  const seconds = Math.max(1, Math.ceil(graceMs / 1000));
  const first =
    kind === "package"
      ? `if [ -f scripts/stop.sh ]; then
  t=; command -v timeout >/dev/null 2>&1 && t="timeout ${seconds}"
  ( . ./${ENV_FILE}; exec $t ./scripts/stop.sh ${q(dir)} ${q(envFile)} ) >> logs/stop.log 2>&1 || echo "stop.sh exited with $?" >> logs/stop.log
else
  signal TERM
fi`
      : "signal TERM";
  return `cd ${q(dir)} 2>/dev/null || exit 0
${aliveFunction(pgid)}
signal() { kill -$1 -${pgid} 2>/dev/null; [ -s service.pid ] && kill -$1 "$(cat service.pid)" 2>/dev/null; true; }
${first}
i=0
while alive; do
  [ $i -eq ${ticks} ] && signal KILL
  [ $i -gt ${ticks + 100} ] && { echo "process group ${pgid} survived SIGKILL" >&2; exit ${EXIT.survived}; }
  i=$((i + 1)); sleep 0.1
done`;
}

/** Kills at once whatever a failed start left running (a setup.sh's group, its group, the pid a start.sh recorded). */
export function abandonCommand(dir: string): string {
  return `if cd ${q(dir)} 2>/dev/null; then
  [ -s ${SETUP_PGID_FILE} ] && kill -KILL -"$(cat ${SETUP_PGID_FILE})" 2>/dev/null
  [ -s ${PGID_FILE} ] && kill -KILL -"$(cat ${PGID_FILE})" 2>/dev/null
  [ -s service.pid ] && kill -KILL "$(cat service.pid)" 2>/dev/null
  cd /
fi
true`;
}

/** Kills a crashed run's service group, if the service dir still names it (a reused number is left alone). */
export function reapProcessCommand(dir: string, pgid: number): string {
  return `if cd ${q(dir)} 2>/dev/null && [ "$(cat ${PGID_FILE} 2>/dev/null)" = "${pgid}" ]; then
  kill -KILL -${pgid} 2>/dev/null
  [ -s service.pid ] && kill -KILL "$(cat service.pid)" 2>/dev/null
fi
true`;
}

/**
 * Kills what a crashed run's service dir names (its group, a start.sh's pid), if the dir is still
 * that run's: a run killed between the launch and the record of its group leaves only the dir's record.
 */
export function abandonRunCommand(dir: string, runId: string): string {
  return `if [ "$(cat ${q(`${dir}/${RUN_FILE}`)} 2>/dev/null)" = ${q(runId)} ]; then
${abandonCommand(dir)}
fi
true`;
}

/**
 * Removes the service dir (with `sudo -n` when its parent is not the user's); with `runId`, only
 * if the dir is still that run's (a reaper must not remove a later run's dir).
 */
export function removeDirCommand(dir: string, runId?: string): string {
  const guard = runId === undefined ? "" : `[ "$(cat "$d/${RUN_FILE}" 2>/dev/null)" = ${q(runId)} ] || exit 0\n`;
  return `d=${q(dir)}
${guard}rm -rf "$d" 2>/dev/null || sudo -n rm -rf "$d"
[ ! -e "$d" ]`;
}

/** Runs `argv` (no shell parsing of it) in the service dir with the service's env. */
export function execInDirCommand(dir: string, argv: readonly string[]): string {
  return `cd ${q(dir)} && . ./${ENV_FILE} && exec ${argv.map(q).join(" ")} < /dev/null`;
}

/** Runs the package's `scripts/health.sh <dir> <envfile>` with its env; its exit code is the answer. */
export function healthCommand(dir: string, envFile: string): string {
  return `cd ${q(dir)} && . ./${ENV_FILE} && exec ./scripts/health.sh ${q(dir)} ${q(envFile)} < /dev/null`;
}

/** Prints each requirement the node lacks: a path that does not exist, a command not on PATH. */
export function systemRequiresCommand(requires: readonly string[]): string {
  if (requires.length === 0) return "true";
  return `for r in ${requires.map(q).join(" ")}; do
  case $r in
    */*) [ -e "$r" ] || echo "$r" ;;
    *) command -v "$r" >/dev/null 2>&1 || echo "$r" ;;
  esac
done`;
}

/** Exits 0 when `binary` (an absolute path or a name on PATH) can be run on the node. */
export function binaryCheckCommand(binary: string): string {
  return binary.includes("/") ? `[ -f ${q(binary)} ] && [ -x ${q(binary)} ]` : `command -v ${q(binary)} >/dev/null 2>&1`;
}

/** Exits 0 when the tools the runtime uses on a node are there. */
export const TOOLS_CHECK = `for c in setsid tail sleep kill find; do command -v $c >/dev/null 2>&1 || echo $c; done`;
