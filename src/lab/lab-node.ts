import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { HarnessError } from "../errors.js";
import { mustRun, runCommand } from "./lab-command.js";
import { processAlive } from "./lab-state.js";

export const SSHD = "/usr/sbin/sshd";

/**
 * Runs as the node's first process, inside its network namespace and the private mount namespace
 * that `ip netns exec` gives it: private tmpfs mounts of /run, /tmp, /opt/harness and the user's
 * home (so sockets, remote dirs and shell start-up files of nodes do not collide, and a node's
 * root does not pay for the host's .bashrc), the node's own dir bound back into the new /run, a
 * sudoers rule for a non-root user, a resolv.conf of its own (a copy of the host's: a run's DNS
 * server may point it elsewhere, `dns: true`, without touching the host's), then sshd in the foreground. Everything mounted here lives
 * only as long as a process of the node does: nothing to undo on the host.
 */
const NODE_SCRIPT = String.raw`set -eu
dir=$1 ip=$2 user=$3 home=$4 uid=$5 gid=$6 share=$7 sudo=$8
cd "$dir"
# Read before /run is hidden: the host's resolv.conf may be a link into it.
resolv_target=$(readlink -f /etc/resolv.conf || echo /etc/resolv.conf)
resolv_text=$(cat /etc/resolv.conf 2>/dev/null || true)
# The harness's working dir (a checkout under /root or /tmp, say) must stay visible on the node:
# held open now, bound back at its own path once the private mounts hide it.
case "$share" in
  /run/*|/tmp/*|/opt/harness/*|"$home"|"$home"/*) exec 3<"$share" ;;
  *) share="" ;;
esac
mount -t tmpfs -o mode=0755 mb-run /run
mkdir -p /run/sshd "$dir"
# The cwd still is the node's dir under the hidden /run: bind it back at its own path.
mount --no-canonicalize --bind . "$dir"
printf '%s\n' "$resolv_text" > "$dir/resolv.conf"
case "$resolv_target" in
  /run/*) mkdir -p "$(dirname "$resolv_target")"; cp "$dir/resolv.conf" "$resolv_target" ;;
  *) mount --no-canonicalize --bind "$dir/resolv.conf" "$resolv_target" ;;
esac
mount -t tmpfs -o mode=1777 mb-tmp /tmp
mkdir -p /opt/harness
mount -t tmpfs -o mode=0755 mb-harness /opt/harness
mount -t tmpfs -o "mode=0700,uid=$uid,gid=$gid" mb-home "$home"
if [ "$user" != root ] && [ -d /etc/sudoers.d ]; then
  mount -t tmpfs -o mode=0755 mb-sudoers /etc/sudoers.d
  if [ "$sudo" = yes ]; then
    printf '%s ALL=(ALL) NOPASSWD: ALL\n' "$user" > /etc/sudoers.d/meshbed-lab
    chmod 0440 /etc/sudoers.d/meshbed-lab
  fi
fi
if [ -n "$share" ]; then
  mkdir -p "$share"
  mount --no-canonicalize --bind /proc/self/fd/3 "$share"
  exec 3<&-
fi
exec ${SSHD} -D -e -f /dev/null -h "$dir/host_key" -o ListenAddress="$ip" -o PidFile=none \
  -o AuthorizedKeysFile="$dir/authorized_keys" -o StrictModes=no -o UsePAM=no -o LogLevel=VERBOSE \
  -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no -o MaxStartups=100 -o "Subsystem sftp internal-sftp"
`;

export interface Account {
  user: string;
  uid: number;
  gid: number;
  home: string;
}

/** The account of `user`, or undefined when there is none. */
export async function lookupAccount(user: string): Promise<Account | undefined> {
  const result = await runCommand("getent", ["passwd", user]);
  if (result.code !== 0) return undefined;
  const [, , uid, gid, , home] = result.stdout.trim().split(":");
  return { user, uid: Number(uid), gid: Number(gid), home: home || `/home/${user}` };
}

/**
 * Creates a system account with `/bin/sh` (a fast login shell) and no password (key login only:
 * `*` instead of the locked `!` that sshd refuses). Its home is a mount point: each node mounts a
 * private one there.
 */
export async function createAccount(user: string): Promise<Account> {
  await mustRun("useradd", ["--system", "--user-group", "--no-create-home", "--home-dir", `/home/${user}`, "--shell", "/bin/sh", user]);
  await mustRun("usermod", ["-p", "*", user]);
  return (await lookupAccount(user))!;
}

export async function deleteAccount(user: string): Promise<void> {
  await runCommand("userdel", [user]);
}

/** An ed25519 key pair in OpenSSH's format, as sshd and ssh2 read it. */
export async function generateKey(file: string, comment: string): Promise<{ privateKey: string; publicKey: string }> {
  fs.rmSync(file, { force: true });
  fs.rmSync(`${file}.pub`, { force: true });
  await mustRun("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]);
  return { privateKey: fs.readFileSync(file, "utf8"), publicKey: fs.readFileSync(`${file}.pub`, "utf8").trim() };
}

export interface SshdLaunch {
  namespace: string;
  dir: string;
  ip: string;
  account: Account;
  /** Whether a non-root user may `sudo -n` there. */
  sudo: boolean;
}

/** Starts the node's sshd; resolves its pid once it listens (its log says so). */
export async function startSshd(launch: SshdLaunch, onPid: (pid: number) => void): Promise<number> {
  const log = path.join(launch.dir, "sshd.log");
  const fd = fs.openSync(log, "a", 0o600);
  const { account } = launch;
  const args = ["netns", "exec", launch.namespace, "sh", "-c", NODE_SCRIPT, "sh", launch.dir, launch.ip, account.user, account.home];
  const child = spawn("ip", [...args, String(account.uid), String(account.gid), process.cwd(), launch.sudo ? "yes" : "no"], { detached: true, stdio: ["ignore", fd, fd] });
  fs.closeSync(fd);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new HarnessError(`sshd of node ${launch.namespace} could not be started`, { code: "E_LAB" });
  onPid(pid);
  let exited: number | null | undefined;
  child.once("exit", (code) => (exited = code));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const text = fs.readFileSync(log, "utf8");
    if (text.includes("Server listening on")) return pid;
    if (exited !== undefined || !processAlive(pid) || Date.now() > deadline) {
      const why = exited !== undefined ? `exited with code ${exited}` : "did not listen within 10 s";
      throw new HarnessError(`sshd of lab node ${launch.namespace} ${why}; its log (${log}):\n${text.trim()}`, { code: "E_LAB" });
    }
    await sleep(20);
  }
}
