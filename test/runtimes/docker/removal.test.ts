import { describe, expect, it } from "vitest";
import { reapDockerRun } from "../../../src/runtimes/docker/docker-reaper.js";
import { removeContainer } from "../../../src/runtimes/docker/remove-container.js";
import { RUN_LABEL, removeNetwork } from "../../../src/runtimes/docker/run-network.js";
import { busyboxImage, dockerAvailable, leftovers, testDocker, testRunId } from "../../support/images.js";

const ready = await dockerAvailable();

describe.skipIf(!ready)("removals from the engine", () => {
  it("reaps a run that another reaper is reaping at the same time: each waits for the other's removal, none fails", async () => {
    const docker = testDocker();
    const image = await busyboxImage();
    const runId = testRunId("rp");
    for (const i of [1, 2, 3]) {
      const container = await docker.createContainer({ Image: image, name: `mb-${runId}-c${i}`, Cmd: ["sleep", "300"], Labels: { [RUN_LABEL]: runId } });
      await container.start();
    }
    // Two cleanups of one crashed run (a harness start and `meshbed cleanup`): the engine answers the later removal 409 "already in progress".
    const results = await Promise.allSettled([reapDockerRun(runId), reapDockerRun(runId), reapDockerRun(runId)]);
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    expect(await leftovers(runId)).toEqual([]);
  }, 60_000);

  it("removes a run network while its container is still being removed: the endpoint's last moment is waited for", async () => {
    const docker = testDocker();
    const image = await busyboxImage();
    const runId = testRunId("rn");
    const network = await docker.createNetwork({ Name: `mb-${runId}`, Labels: { [RUN_LABEL]: runId } });
    const container = await docker.createContainer({
      Image: image,
      name: `mb-${runId}-c`,
      Cmd: ["sleep", "300"],
      Labels: { [RUN_LABEL]: runId },
      HostConfig: { NetworkMode: `mb-${runId}` },
    });
    await container.start();
    // The network's removal is asked while the container's is under way.
    const results = await Promise.allSettled([removeContainer(container), removeContainer(container), removeNetwork(docker, network.id)]);
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    expect(await leftovers(runId)).toEqual([]);
    expect((await docker.listNetworks({ filters: { name: [`mb-${runId}`] } })).length).toBe(0);
  }, 60_000);
});
