import fs from "node:fs";
import Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { Lab, parseNodeSpec } from "../../src/public/lab.js";
import { busyboxImage, dockerAvailable, testDocker } from "../support/images.js";
import { fetchFromNode, labAvailable, labForSuite, waitFor } from "../support/lab.js";
import { alive } from "../support/process-tracker.js";

/** Moves an image of the harness host's engine into another engine (what `docker save | docker load` does). */
export async function loadInto(engine: Docker, image: string): Promise<void> {
  const tar = await testDocker().getImage(image).get();
  const stream = await engine.loadImage(tar);
  await new Promise((resolve, reject) => engine.modem.followProgress(stream, (error) => (error ? reject(error) : resolve(undefined))));
}

const ready = labAvailable() && (await dockerAvailable());

describe.skipIf(!ready)("a lab node with its own dockerd", () => {
  const lab = labForSuite([
    { name: "dk", network: "lan", docker: true },
    { name: "plain", network: "lan" },
  ]);

  it("parses `name:lan:docker` and `name:lan:user:docker`", () => {
    expect(parseNodeSpec("n1:lan:docker")).toEqual({ name: "n1", network: "lan", docker: true });
    expect(parseNodeSpec("n1:wan:deploy:docker")).toEqual({ name: "n1", network: "wan", user: "deploy", docker: true });
    expect(parseNodeSpec("n1:lan:deploy")).toEqual({ name: "n1", network: "lan", user: "deploy" });
    expect(() => parseNodeSpec("n1:lan::docker")).toThrow(/name:lan/);
  });

  it("runs an engine of the node's own: its containers publish ports on the node's address", async () => {
    const node = lab().node("dk");
    expect(node.dockerHost).toMatch(/^unix:\/\//);
    expect(lab().node("plain").dockerHost).toBeUndefined();
    const engine = new Docker({ socketPath: node.dockerHost!.slice("unix://".length) });
    const info = await engine.info();
    // Not the harness host's engine: its own data-root, under the lab's dir.
    expect(info.DockerRootDir).toBe(`/run/meshbed-lab/${lab().id}/dk/docker`);
    expect((await engine.listImages()).length).toBe(0);
    const image = await busyboxImage();
    await loadInto(engine, image);
    const container = await engine.createContainer({
      Image: image,
      Env: ["PORT=8080", "HARNESS_SERVICE=on-dk"],
      HostConfig: { PortBindings: { "8080/tcp": [{ HostPort: "18080" }] } },
      ExposedPorts: { "8080/tcp": {} },
    });
    await container.start();
    const url = `http://${node.host}:18080/whoami`;
    expect(
      await waitFor("the container on the node", async () =>
        (
          await fetch(url).then(
            (r) => r.text(),
            () => undefined,
          )
        )?.trim(),
      ),
    ).toBe("on-dk");
    // Reachable from another LAN node too: it listens on the node's every interface.
    expect(await fetchFromNode(lab(), "plain", url, 3_000)).toBe("on-dk");
    // The node's sshd sees the engine at the usual socket path.
    expect((await lab().exec("dk", ["test", "-S", "/var/run/docker.sock"])).code).toBe(0);
  });

  it("stops the engine and its containers with the lab, and removes its data-root", async () => {
    const own = await Lab.create({ nodes: [{ name: "gone", network: "lan", docker: true }] });
    const node = own.node("gone");
    const engine = new Docker({ socketPath: node.dockerHost!.slice("unix://".length) });
    await loadInto(engine, await busyboxImage());
    const container = await engine.createContainer({ Image: await busyboxImage(), Cmd: ["sleep", "600"] });
    await container.start();
    const containerPid = (await container.inspect()).State.Pid;
    expect(alive(containerPid)).toBe(true);
    const dir = `/run/meshbed-lab/${own.id}`;
    await own.destroy();
    expect(alive(node.dockerdPid!)).toBe(false);
    expect(alive(containerPid)).toBe(false);
    expect(fs.existsSync(dir)).toBe(false);
  });
});
