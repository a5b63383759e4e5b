import Docker from "dockerode";
import { afterEach, describe, expect, it } from "vitest";
import { Harness, HarnessError } from "../../../src/public/index.js";
import { busyboxImage, dockerAvailable, leftovers, testRunId } from "../../support/images.js";
import { labAvailable, labForSuite, on } from "../../support/lab.js";

const ready = labAvailable() && (await dockerAvailable());

describe.skipIf(!ready)("a container on a node whose SSH user is not root and not in the docker group", () => {
  const labOf = labForSuite([{ name: "dka", network: "lan", user: "mbdock", docker: true }]);
  let harness: Harness | undefined;

  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it("reaches the node's engine through `sudo -n` (the user may not open the socket itself), runs the container, and leaves nothing", async () => {
    const image = await busyboxImage();
    const node = labOf().node("dka");
    expect(node.user).toBe("mbdock");
    // The precondition: the login user may not open the engine's socket.
    const direct = await labOf().exec("dka", ["su", "-s", "/bin/sh", "mbdock", "-c", "test -w /var/run/docker.sock"]);
    expect(direct.code).not.toBe(0);
    const runId = testRunId("ns");
    harness = await Harness.builder({ runId })
      .remoteLan("boxed", { ...on(node), docker: { image }, port: 8080, health: { http: "/health" } })
      .start();
    const response = await fetch(`http://${harness.service("boxed").addr}/whoami`, { signal: AbortSignal.timeout(10_000) });
    expect((await response.text()).trim()).toBe("boxed");
    const engine = new Docker({ socketPath: node.dockerHost!.slice("unix://".length) });
    expect((await engine.listContainers({ filters: { label: [`meshbed.run=${runId}`] } })).length).toBe(1);
    await harness.stop();
    harness = undefined;
    expect(await engine.listContainers({ all: true, filters: { label: [`meshbed.run=${runId}`] } })).toEqual([]);
    expect((await engine.listImages()).flatMap((i) => i.RepoTags ?? [])).not.toContain(image);
    expect(await leftovers(runId)).toEqual([]);
  }, 120_000);

  it("without sudo either, fails with E_DOCKER_UNAVAILABLE saying to add the user to the docker group, leaving nothing", async () => {
    const image = await busyboxImage();
    const node = labOf().node("dka");
    // Take the node's sudo rule away for this test (the node's own sudoers mount), and give it back after.
    const off = await labOf().exec("dka", ["mv", "/etc/sudoers.d/meshbed-lab", "/etc/sudoers.d/.meshbed-lab.off"]);
    expect(off.code).toBe(0);
    try {
      const runId = testRunId("ns");
      const error = await Harness.builder({ runId })
        .remoteLan("boxed", { ...on(node), docker: { image }, port: 8080 })
        .start()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(HarnessError);
      expect((error as HarnessError).code).toBe("E_DOCKER_UNAVAILABLE");
      expect((error as HarnessError).service).toBe("boxed");
      expect((error as Error).message).toContain(`node mbdock@${node.host}`);
      expect((error as Error).message).toContain("sudo usermod -aG docker mbdock");
      expect(await leftovers(runId)).toEqual([]);
    } finally {
      await labOf().exec("dka", ["mv", "/etc/sudoers.d/.meshbed-lab.off", "/etc/sudoers.d/meshbed-lab"]);
    }
  }, 60_000);
});
