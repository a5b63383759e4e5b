import { execFileSync } from "node:child_process";

/**
 * Whether a test's prerequisite (root, dockerd, sshd…) is there. Without it the test is skipped
 * locally, but under MESHBED_REQUIRE_ALL=1 (CI) it fails: CI must run everything.
 */
export function prerequisite(name: string, present: boolean, howToGet: string): boolean {
  if (present) return true;
  if (process.env.MESHBED_REQUIRE_ALL === "1") {
    throw new Error(`Prerequisite missing: ${name}. ${howToGet} (MESHBED_REQUIRE_ALL=1 forbids skipping)`);
  }
  return false;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export function hasCommand(command: string): boolean {
  try {
    execFileSync("sh", ["-c", 'command -v "$1"', "sh", command], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
