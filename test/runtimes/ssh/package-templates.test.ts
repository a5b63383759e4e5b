import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Harness, type HarnessError, pack } from "../../../src/public/index.js";
import { extraProcesses, labAvailable, labForSuite, on, waitFor } from "../../support/lab.js";
import { type PackageFiles, greeterPackage, writePackageDir } from "../../support/packages.js";

/** The greeter with two config templates and a setup script that proves what it saw. */
function templatedPackage(overrides: PackageFiles = {}): PackageFiles {
  return greeterPackage({
    // A secret-looking variable: rendered 0600.
    "config/app.conf.template": [
      "# rendered for ${HARNESS_SERVICE}",
      "listen = 0.0.0.0:${PORT}",
      "upstream = http://${LOCAL_ADDR}/",
      "password = ${DB_PASSWORD}",
      "level = ${LOG_LEVEL:-info}",
      "cost = $$5",
      "",
    ].join("\n"),
    // None: 0644, in a folder of its own.
    "config/peers/peers.ini.template": "[local]\nhost = ${LOCAL_HOST}\nport = ${LOCAL_PORT}\n",
    "scripts/setup.sh": [
      "#!/bin/sh",
      "# Called as: setup.sh <working_dir> <env_file>",
      'cd "$1"',
      'echo "setup: preparing $HARNESS_SERVICE in $1"',
      // It runs before start.sh, and after the templates are rendered.
      '[ -f service.pid ] && { echo "start.sh ran before setup.sh" >&2; exit 1; }',
      "cp config/app.conf setup-saw.conf",
      // Whatever it leaves running is ended when it ends.
      "sleep 300 &",
      'echo "setup: done"',
      "",
    ].join("\n"),
    ...overrides,
  });
}

async function startError(attempt: Promise<unknown>): Promise<HarnessError> {
  return (await attempt.then(
    () => {
      throw new Error("the start succeeded");
    },
    (e: unknown) => e,
  )) as HarnessError;
}

describe.skipIf(!labAvailable())("packages: config templates and setup.sh", () => {
  const labOf = labForSuite([
    { name: "t1", network: "lan" },
    { name: "t2", network: "lan", user: "mbuser" },
  ]);
  const started: Harness[] = [];

  afterEach(async () => {
    for (const harness of started.splice(0)) await harness.stop().catch(() => {});
  });

  for (const nodeName of ["t1", "t2"]) {
    it(`renders config/*.template with the injected env (0600 with a secret) and runs setup.sh once before start.sh, on ${nodeName}`, async () => {
      const node = labOf().node(nodeName);
      const dir = writePackageDir(templatedPackage());
      const { file } = await pack(dir, path.join(dir, "..", "templated.tar.gz"));
      const before = await extraProcesses(labOf(), nodeName);

      const harness = await Harness.builder()
        .process("local", { binary: process.execPath, args: [path.join(dir, "bin", "server.mjs")], port: 0 })
        .remoteLan("greeter", { ...on(node), package: file, env: { DB_PASSWORD: "pa ss'$(touch /tmp/pwned)" } })
        .start();
      started.push(harness);
      const localAddr = `${node.hostIp}:${harness.services.local.port}`;
      expect(harness.envFor("greeter").LOCAL_ADDR).toBe(localAddr);

      const root = "/opt/harness/greeter";
      const conf = await labOf().exec(nodeName, ["cat", `${root}/config/app.conf`]);
      expect(conf.stdout).toBe(
        ["# rendered for greeter", "listen = 0.0.0.0:8470", `upstream = http://${localAddr}/`, "password = pa ss'$(touch /tmp/pwned)", "level = info", "cost = $5", ""].join("\n"),
      );
      const peers = await labOf().exec(nodeName, ["cat", `${root}/config/peers/peers.ini`]);
      expect(peers.stdout).toBe(`[local]\nhost = ${node.hostIp}\nport = ${harness.services.local.port}\n`);
      const modes = await labOf().exec(nodeName, ["stat", "-c", "%n %a %U", `${root}/config/app.conf`, `${root}/config/peers/peers.ini`]);
      expect(modes.stdout.trim().split("\n")).toEqual([`${root}/config/app.conf 600 ${node.user}`, `${root}/config/peers/peers.ini 644 ${node.user}`]);
      // No value reached a shell.
      expect((await labOf().exec(nodeName, ["ls", "/tmp"])).stdout).not.toContain("pwned");

      // setup.sh ran after rendering, before start.sh, and left nothing running.
      expect((await labOf().exec(nodeName, ["cat", `${root}/setup-saw.conf`])).stdout).toBe(conf.stdout);
      const processes = await extraProcesses(labOf(), nodeName);
      expect(processes.filter((p) => p.args === "sleep 300")).toEqual([]);
      // Its output is in the service's log.
      const lines: string[] = [];
      for await (const line of harness.services.greeter.logs({ follow: true, signal: AbortSignal.timeout(10_000) })) {
        lines.push(line.line);
        if (lines.includes("setup: done") && lines.includes("greeter listening on 8470")) break;
      }
      expect(lines).toContain(`setup: preparing greeter in ${root}`);
      expect(await (await fetch(`http://${harness.services.greeter.addr}/call/LOCAL_ADDR`)).text()).toBe(`${localAddr} -> local`);

      await harness.stop();
      await waitFor("no process of the package on the node", async () => (await extraProcesses(labOf(), nodeName)).length === before.length);
      expect((await labOf().exec(nodeName, ["ls", "-A", "/opt/harness"])).stdout.trim()).toBe("");
    });
  }

  it("a failing setup.sh is E_SETUP_FAILED naming the script, with its output, and leaves nothing on the node", async () => {
    const before = await extraProcesses(labOf(), "t2");
    const dir = writePackageDir(greeterPackage({ "scripts/setup.sh": "#!/bin/sh\necho 'installing libfoo'\necho 'libfoo: not found' >&2\nsleep 300 &\nexit 3\n" }));
    const error = await startError(
      Harness.builder()
        .remoteLan("failing", { ...on(labOf().node("t2")), package: dir })
        .start(),
    );
    expect(error.code).toBe("E_SETUP_FAILED");
    expect(error.service).toBe("failing");
    expect(error.message).toContain('scripts/setup.sh of service "failing" (package greeter 1.2.3) on mbuser@');
    expect(error.message).toContain("exited with code 3");
    expect(error.logTail).toEqual(["installing libfoo", "libfoo: not found"]);
    expect((await labOf().exec("t2", ["ls", "-A", "/opt/harness"])).stdout.trim()).toBe("");
    await waitFor("no process of the setup on the node", async () => (await extraProcesses(labOf(), "t2")).length === before.length);
  });

  it("a setup.sh that outlives `setup_timeout` is killed, whole, and is E_SETUP_FAILED", async () => {
    const before = await extraProcesses(labOf(), "t1");
    const dir = writePackageDir(
      greeterPackage({
        "manifest.yaml": "name: slow\nversion: 1\nport: 8473\nsetup_timeout: 1\n",
        "scripts/setup.sh": "#!/bin/sh\necho 'downloading the internet'\nsleep 300 &\nsleep 200\n",
      }),
    );
    const begun = Date.now();
    const error = await startError(
      Harness.builder()
        .remoteLan("slow", { ...on(labOf().node("t1")), package: dir })
        .start(),
    );
    const took = Date.now() - begun;
    expect(error.code).toBe("E_SETUP_FAILED");
    expect(error.message).toContain('scripts/setup.sh of service "slow" (package slow 1) on ');
    expect(error.message).toContain("did not finish within 1 s (`setup_timeout` of manifest.yaml) and was killed");
    expect(error.logTail).toEqual(["downloading the internet"]);
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(8_000);
    expect((await labOf().exec("t1", ["ls", "-A", "/opt/harness"])).stdout.trim()).toBe("");
    await waitFor("no process of the setup on the node", async () => (await extraProcesses(labOf(), "t1")).length === before.length);
  });

  it("an unknown variable in a template is E_UNKNOWN_VARIABLE naming the file and the line, before anything reaches the node", async () => {
    const dir = writePackageDir(templatedPackage({ "config/app.conf.template": "listen = ${PORT}\nupstream = ${LOCAL_ADR}\n" }));
    const error = await startError(
      Harness.builder()
        .process("local", { binary: process.execPath, args: [path.join(dir, "bin", "server.mjs")], port: 0 })
        .remoteLan("greeter", { ...on(labOf().node("t1")), package: dir })
        .start(),
    );
    expect(error.code).toBe("E_UNKNOWN_VARIABLE");
    expect(error.service).toBe("greeter");
    expect(error.message).toBe('Line 2 of config/app.conf.template of service "greeter" uses ${LOCAL_ADR}, which is not defined: did you mean ${LOCAL_ADDR}?');
    expect((await labOf().exec("t1", ["ls", "-A", "/opt/harness"])).stdout.trim()).toBe("");
  });
});
