import net from "node:net";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { Harness } from "../../../src/public/index.js";
import { busyboxImage, dockerAvailable, leftovers, testDocker, testRunId } from "../../support/images.js";

const HTTP_SERVER = fileURLToPath(new URL("../../fixtures/http-server.mjs", import.meta.url));
const ready = await dockerAvailable();

let image: string;
const started: Harness[] = [];
afterEach(async () => {
  for (const harness of started.splice(0)) await harness.stop().catch(() => {});
});

/** Asks `from` to call the peer whose address it was given in `variable`; answers "<addr> -> <name>". */
async function call(harness: Harness, from: string, variable: string): Promise<string> {
  const service = harness.service(from);
  const path = service.target === "docker" ? `/cgi-bin/call?${variable}` : `/call/${variable}`;
  const response = await fetch(`http://${service.addr}${path}`, { signal: AbortSignal.timeout(10_000) });
  return (await response.text()).trim();
}

describe.skipIf(!ready)("docker: real connections, made with the injected addresses only", () => {
  beforeAll(async () => {
    image = await busyboxImage();
  }, 120_000);

  it("process → container: the container IP on the run network", async () => {
    const harness = await Harness.builder({ runId: testRunId() })
      .docker("web", { image, port: 0 })
      .process("api", { binary: process.execPath, args: [HTTP_SERVER], port: 0, dependsOn: ["web"] })
      .start();
    started.push(harness);
    const webAddr = harness.envFor("api").WEB_ADDR!;
    expect(webAddr).toBe(harness.services.web.addresses.container);
    expect(await call(harness, "api", "WEB_ADDR")).toBe(`${webAddr} -> web`);
  });

  it("container → process: through the host gateway of the run network", async () => {
    const harness = await Harness.builder({ runId: testRunId() })
      .process("api", { binary: process.execPath, args: [HTTP_SERVER], port: 0 })
      .docker("edge", { image, port: 8080, dependsOn: ["api"] })
      .start();
    started.push(harness);
    const env = harness.envFor("edge");
    const network = await testDocker().getNetwork(`mb-${harness.runId}`).inspect();
    expect(env.API_HOST).toBe(network.IPAM!.Config![0]!.Gateway);
    expect(env.API_PORT).toBe(String(harness.services.api.port));
    expect(await call(harness, "edge", "API_ADDR")).toBe(`${env.API_ADDR} -> api`);
  });

  it("container → container: the peer's fixed IP on the run network", async () => {
    const harness = await Harness.builder({ runId: testRunId() }).docker("store", { image, port: 9000 }).docker("front", { image, port: 0 }).start();
    started.push(harness);
    const storeAddr = harness.envFor("front").STORE_ADDR!;
    expect(storeAddr).toBe(harness.services.store.addresses.container);
    expect(await call(harness, "front", "STORE_ADDR")).toBe(`${storeAddr} -> store`);
    expect(await call(harness, "store", "FRONT_ADDR")).toBe(`${harness.envFor("store").FRONT_ADDR} -> front`);
  });

  it("fixes each container's IP in the plan and publishes its port on the host", async () => {
    const runId = testRunId();
    const builder = Harness.builder({ runId }).docker("web", { image, port: 8080 }).docker("db", { image, port: 0 });
    const plan = await builder.plan();
    const harness = await builder.start();
    started.push(harness);
    expect(harness.services.web.addr).toBe(plan.services.web!.addr);
    // Same run id, same subnet: only the picked port of "db" may differ between plan and start.
    expect(harness.services.db.host).toBe(plan.services.db!.addr!.split(":")[0]);
    expect(harness.services.db.port).not.toBe(0);
    expect(harness.envFor("db").PORT).toBe(String(harness.services.db.port));

    const inspect = await testDocker().getContainer(`mb-${runId}-web`).inspect();
    expect(inspect.NetworkSettings.Networks[`mb-${runId}`]!.IPAddress).toBe(harness.services.web.host);
    expect(inspect.Config.Labels["meshbed.run"]).toBe(runId);
    const binding = inspect.NetworkSettings.Ports["8080/tcp"]![0]!;
    expect(binding.HostIp).toBe("127.0.0.1");
    expect(await connects("127.0.0.1", Number(binding.HostPort))).toBe(true);
    const answer = await fetch(`http://127.0.0.1:${binding.HostPort}/whoami`);
    expect((await answer.text()).trim()).toBe("web");

    await harness.stop();
    expect(await leftovers(runId)).toEqual([]);
  });

  it("publishes `ports` as compose does; without `port` the first is the primary (the ADR's `ports: [5432]`)", async () => {
    const serveTwo = "mkdir -p /www && echo ok > /www/health && httpd -p 9090 -h /www && exec httpd -f -p $PORT -h /www";
    const harness = await Harness.builder({ runId: testRunId() })
      .docker("db", { image, ports: [5432], command: ["sh", "-c", serveTwo], init: true })
      .docker("both", { image, port: 8080, ports: [9090], command: ["sh", "-c", serveTwo], init: true })
      .process("api", { binary: process.execPath, args: [HTTP_SERVER], port: 0 })
      .start();
    started.push(harness);
    expect(harness.services.db.port).toBe(5432);
    expect(harness.envFor("api").DB_ADDR).toBe(`${harness.services.db.host}:5432`);
    expect(harness.envFor("db").PORT).toBe("5432");

    const { publishedPorts } = await harness.services.both.status();
    expect(Object.keys(publishedPorts!).sort()).toEqual(["8080", "9090"]);
    for (const hostPort of Object.values(publishedPorts!)) {
      const answer = await fetch(`http://127.0.0.1:${hostPort}/health`);
      expect((await answer.text()).trim()).toBe("ok");
    }
    expect((await harness.services.db.status()).publishedPorts).toEqual({ 5432: expect.any(Number) });
  });
});

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
