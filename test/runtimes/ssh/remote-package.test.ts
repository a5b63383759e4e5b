import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Harness, type HarnessError, pack } from "../../../src/public/index.js";
import { extraProcesses, labAvailable, labForSuite, on, waitFor } from "../../support/lab.js";
import { greeterPackage, writePackageDir } from "../../support/packages.js";

describe.skipIf(!labAvailable())("remote_lan with a package", () => {
  const labOf = labForSuite([
    { name: "p1", network: "lan" },
    { name: "p2", network: "lan", user: "mbuser" },
  ]);
  const started: Harness[] = [];

  afterEach(async () => {
    for (const harness of started.splice(0)) await harness.stop().catch(() => {});
  });

  for (const nodeName of ["p1", "p2"]) {
    it(`deploys a packed package on ${nodeName}, healthy through health.sh, streaming its logs, and leaves nothing after stop()`, async () => {
      const node = labOf().node(nodeName);
      const dir = writePackageDir(greeterPackage());
      const { file } = await pack(dir, path.join(dir, "..", "greeter.tar.gz"));
      const before = await extraProcesses(labOf(), nodeName);

      const harness = await Harness.builder()
        .process("local", { binary: process.execPath, args: [path.join(dir, "bin", "server.mjs")], port: 0 })
        .remoteLan("greeter", { ...on(node), package: file })
        .start();
      started.push(harness);

      // The manifest's port, since the options gave none.
      expect(harness.services.greeter.addr).toBe(`${node.host}:8470`);
      expect(harness.envFor("greeter").PORT).toBe("8470");
      expect(await (await fetch(`http://${harness.services.greeter.addr}/whoami`)).text()).toBe("greeter");
      // Its peers' addresses reached it through the env file start.sh sourced.
      expect(await (await fetch(`http://${harness.services.greeter.addr}/call/LOCAL_ADDR`)).text()).toBe(`${node.hostIp}:${harness.services.local.port} -> local`);
      // health.sh decided readiness: it ran (and failed while the service still waited to listen).
      const checks = await labOf().exec(nodeName, ["cat", "/opt/harness/greeter/health-checks"]);
      expect(checks.stdout.split("\n").filter(Boolean).length).toBeGreaterThan(1);
      const files = await labOf().exec(nodeName, ["sh", "-c", "cd /opt/harness/greeter && ls -A && stat -c %a service.env"]);
      expect(files.stdout.split("\n")).toEqual(expect.arrayContaining(["bin", "config", "scripts", "logs", "manifest.yaml", "service.env", "600"]));

      const lines: string[] = [];
      for await (const line of harness.services.greeter.logs({ follow: true })) {
        lines.push(line.line);
        if (line.line.includes("listening on 8470")) break;
      }
      expect(lines.some((l) => /^started greeter as \d+$/.test(l))).toBe(true);
      expect(lines).toContain("greeter listening on 8470");

      await harness.stop();
      await waitFor("no process of the package on the node", async () => (await extraProcesses(labOf(), nodeName)).length === before.length);
      expect((await labOf().exec(nodeName, ["ls", "-A", "/opt/harness"])).stdout.trim()).toBe("");
    });
  }

  it("takes a package directory as it is (packed on the fly)", async () => {
    const dir = writePackageDir(greeterPackage({ "manifest.yaml": "name: greeter\nversion: 2\nport: 8471\n" }));
    const harness = await Harness.builder()
      .remoteLan("greeter", { ...on(labOf().node("p1")), package: dir })
      .start();
    started.push(harness);
    expect(harness.services.greeter.port).toBe(8471);
    expect(await (await fetch(`http://${harness.services.greeter.addr}/health`)).text()).toBe("ok");
  });

  it("checks system_requires on the node before anything starts, listing what is missing", async () => {
    const dir = writePackageDir(greeterPackage({ "manifest.yaml": "name: needy\nversion: 1\nport: 8472\nsystem_requires:\n  - /bin/sh\n  - /usr/lib/libnothing.so.9\n  - no-such-tool\n" }));
    const error = (await Harness.builder()
      .remoteLan("needy", { ...on(labOf().node("p1")), package: dir })
      .start()
      .catch((e: unknown) => e)) as HarnessError;
    expect(error.code).toBe("E_SYSTEM_REQUIREMENTS");
    expect(error.message).toContain("lacks what package needy 1 requires (system_requires): /usr/lib/libnothing.so.9, no-such-tool");
    expect((await labOf().exec("p1", ["ls", "-A", "/opt/harness"])).stdout.trim()).toBe("");
  });

  it("fails when start.sh fails, with its output, and cleans up", async () => {
    const dir = writePackageDir(greeterPackage({ "scripts/start.sh": "#!/bin/sh\necho 'cannot bind: address in use' >&2\nexit 4\n" }));
    const error = (await Harness.builder()
      .remoteLan("failing", { ...on(labOf().node("p2")), package: dir })
      .start()
      .catch((e: unknown) => e)) as HarnessError;
    expect(error.code).toBe("E_EARLY_EXIT");
    expect(error.message).toContain('scripts/start.sh of service "failing"');
    expect(error.message).toContain("exited with code 4");
    expect(error.message).toContain("cannot bind: address in use");
    expect((await labOf().exec("p2", ["ls", "-A", "/opt/harness"])).stdout.trim()).toBe("");
  });

  it("refuses an invalid package before connecting anywhere", async () => {
    const dir = writePackageDir(greeterPackage({ "manifest.yaml": "name: bad\nversion: 1\nport: 99999\n" }));
    const error = (await Harness.builder()
      .remoteLan("bad", { ...on(labOf().node("p1")), package: dir })
      .start()
      .catch((e: unknown) => e)) as HarnessError;
    expect(error.code).toBe("E_PACKAGE_INVALID");
    expect(error.message).toMatch(/manifest\.yaml: `port` must be an integer from 1 to 65535, got 99999/);
  });
});
