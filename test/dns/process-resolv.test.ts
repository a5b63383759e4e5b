import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Harness } from "../../src/public/index.js";
import { isRoot, prerequisite } from "../support/prerequisites.js";

const ready = prerequisite("root (a local process's own /etc/resolv.conf needs a mount namespace)", isRoot(), "run the suite as root");

describe.skipIf(!ready)("names (network.dns) for a local process in a mount namespace of its own", () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it("runs its health command in its cwd and its namespace: a relative path is found, a name resolves as the process resolves it", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-resolv-cwd-"));
    fs.writeFileSync(path.join(dir, "ready"), "");
    try {
      harness = await Harness.builder({ network: { dns: true } })
        .process("db", { binary: "/bin/sh", args: ["-c", "exec sleep 60"] })
        .process("api", {
          binary: "/bin/sh",
          args: ["-c", "exec sleep 60"],
          cwd: dir,
          dependsOn: ["db"],
          health: { command: ["sh", "-c", 'test -f ready && getent hosts db | grep -q "^$DB_HOST "'] },
          startTimeoutMs: 5_000,
        })
        .start();
      expect((await harness.service("api").status()).state).toBe("healthy");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
