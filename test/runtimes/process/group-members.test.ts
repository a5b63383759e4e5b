import { spawn } from "node:child_process";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { forksSoFar } from "../../../src/host/proc-stat.js";
import { givenOutBetween, membersOf } from "../../../src/runtimes/process/group-members.js";
import { groupAlive } from "../../../src/runtimes/process/process-group.js";

const started: number[] = [];
afterEach(() => {
  for (const pgid of started.splice(0)) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {}
  }
});

/**
 * A group whose leader (a shell) has exited and been reaped, leaving one member: a `sleep` it
 * started, now an orphan of init. Resolves the group and the sleep's pid.
 */
async function groupOutlivingItsLeader(): Promise<{ pgid: number; member: number; forksBefore: number }> {
  const forksBefore = forksSoFar()!;
  const leader = spawn("/bin/sh", ["-c", "sleep 30 & echo $!"], { detached: true, stdio: ["ignore", "pipe", "ignore"] });
  started.push(leader.pid!);
  let out = "";
  leader.stdout!.on("data", (chunk: Buffer) => (out += chunk));
  await once(leader, "exit");
  return { pgid: leader.pid!, member: Number(out.trim()), forksBefore };
}

/** Makes `n` short processes, so that many pids are given out after a leader's. */
async function spendPids(n: number): Promise<void> {
  await Promise.all(Array.from({ length: n }, () => once(spawn("/bin/true", { stdio: "ignore" }), "exit")));
}

async function nextTurn(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

describe("a process group's members", () => {
  it("are the pids after the leader's, round past pid_max to the bottom", () => {
    const after100 = givenOutBetween(100, 200);
    expect([100, 101, 200, 201, 50].map(after100)).toEqual([false, true, true, false, false]);
    // The kernel went round: after 32000 came 300 and on.
    const round = givenOutBetween(32_000, 400);
    expect([31_999, 32_000, 32_001, 32_767, 300, 400, 401].map(round)).toEqual([false, false, true, true, true, true, false]);
  });

  it("are found among the pids given out since the leader's: a member that outlived it, also past many other processes", async () => {
    const { pgid, member, forksBefore } = await groupOutlivingItsLeader();
    expect(member).toBeGreaterThan(0);
    // Looked up one by one (few pids since the leader's).
    expect(membersOf(pgid, forksBefore)).toEqual({ live: 1, zombies: 0 });
    const reaped = { exited: () => true, exit: Promise.resolve(), forksBefore };
    expect(groupAlive(pgid, reaped)).toBe(true);
    // More pids since than are looked up one by one: /proc is listed, and only those after the leader's are read.
    await spendPids(80);
    await nextTurn();
    expect(membersOf(pgid, forksBefore)).toEqual({ live: 1, zombies: 0 });
    // Without the count, and with so many processes made since that the pids may have gone round: all of /proc.
    expect(membersOf(pgid)).toEqual({ live: 1, zombies: 0 });
    expect(membersOf(pgid, forksBefore - 1_000_000_000)).toEqual({ live: 1, zombies: 0 });

    process.kill(member, "SIGKILL");
    // Dead: gone, or a zombie that init has not reaped yet — either way not alive.
    for (let i = 0; i < 100 && groupAlive(pgid, reaped); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(groupAlive(pgid, reaped)).toBe(false);
    expect(membersOf(pgid, forksBefore).live).toBe(0);
  });
});
