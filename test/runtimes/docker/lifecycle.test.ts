import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Harness, HarnessError, type LogLine, parseTopology } from "../../../src/public/index.js";
import { busyboxImage, dockerAvailable, leftovers, testDocker, testRunId } from "../../support/images.js";

const FIXTURES = fileURLToPath(new URL("../../fixtures/", import.meta.url));
const HTTP_SERVER = path.join(FIXTURES, "http-server.mjs");
const ready = await dockerAvailable();

let image: string;
let scratch: string;
const started: Harness[] = [];
afterEach(async () => {
  for (const harness of started.splice(0)) await harness.stop().catch(() => {});
});

/** Follows a service's log until a line matches; fails after `ms`. */
async function lineMatching(harness: Harness, service: string, pattern: RegExp, options: { newOnly?: boolean } = {}): Promise<LogLine> {
  const ms = 10_000;
  const signal = AbortSignal.timeout(ms);
  for await (const line of harness.service(service).logs({ follow: true, signal, ...(options.newOnly && { tail: 0 }) })) {
    if (pattern.test(line.line)) return line;
  }
  throw new Error(`no line of "${service}" matched ${pattern} within ${ms} ms`);
}

async function failure(attempt: () => Promise<unknown>): Promise<HarnessError> {
  const error = await attempt().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HarnessError);
  return error as HarnessError;
}

describe.skipIf(!ready)("docker: a mixed topology's lifecycle", () => {
  beforeAll(async () => {
    image = await busyboxImage();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-docker-test-"));
  }, 120_000);
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it("starts a process that depends on a container, streams both logs, and leaves nothing after stop()", async () => {
    const runId = testRunId();
    const events: string[] = [];
    const harness = await Harness.builder({ runId })
      .docker("web", { image, port: 0, health: { http: "/health" } })
      .process("api", { binary: process.execPath, args: [HTTP_SERVER], port: 0, dependsOn: ["web"], health: { http: "/health" } })
      .start({ onEvent: (e) => events.push(`${e.service} ${e.state}`) });
    expect(events.indexOf("web healthy")).toBeLessThan(events.indexOf("api starting"));
    expect((await harness.services.web.status()).state).toBe("healthy");
    expect((await harness.services.web.status()).containerId).toMatch(/^[0-9a-f]{12}$/);
    expect((await harness.services.api.status()).state).toBe("healthy");

    // The container's stdout, then its stderr (httpd -v logs each request there), and the process's stdout.
    expect((await lineMatching(harness, "web", /^web listening on \d+$/)).stream).toBe("stdout");
    const followed = lineMatching(harness, "web", /response:200/, { newOnly: true });
    await fetch(`http://${harness.services.web.addr}/whoami`);
    expect((await followed).stream).toBe("stderr");
    expect((await lineMatching(harness, "api", /^api listening on/)).stream).toBe("stdout");

    const state = JSON.parse(fs.readFileSync(path.join(os.tmpdir(), `harness-${runId}`, "state.json"), "utf8")) as {
      resources: { kind: string }[];
    };
    // docker-run: the run's label, recorded before the network (src/harness/run.ts), for the reaper.
    expect(state.resources.map((r) => r.kind).sort()).toEqual(["docker-container", "docker-network", "docker-run", "process"]);

    await harness.stop();
    expect(await leftovers(runId)).toEqual([]);
    expect(fs.existsSync(path.join(os.tmpdir(), `harness-${runId}`))).toBe(false);
  });

  it("leaves nothing when the process fails after the container is healthy", async () => {
    const runId = testRunId();
    const error = await failure(() =>
      Harness.builder({ runId })
        .docker("web", { image, port: 0 })
        .process("api", { binary: process.execPath, args: [path.join(FIXTURES, "exit-early.mjs")], port: 0, dependsOn: ["web"] })
        .start(),
    );
    expect(error.service).toBe("api");
    expect(await leftovers(runId)).toEqual([]);
  });

  it("leaves nothing when a container fails while a process of the same level runs", async () => {
    const runId = testRunId();
    const error = await failure(() =>
      Harness.builder({ runId })
        .process("api", { binary: process.execPath, args: [HTTP_SERVER], port: 0 })
        .docker("web", { image, port: 0 })
        .docker("broken", { image, command: ["sh", "-c", "sleep 0.3; echo giving up >&2; exit 4"], port: 0, dependsOn: ["web"] })
        .start(),
    );
    expect(error.code).toBe("E_EARLY_EXIT");
    expect(error.service).toBe("broken");
    expect(error.logTail).toContain("giving up");
    expect(await leftovers(runId)).toEqual([]);
  });

  it("restarts a container at the same address, with the same env", async () => {
    const harness = await Harness.builder({ runId: testRunId() }).docker("web", { image, port: 0 }).start();
    started.push(harness);
    const before = (await harness.services.web.status()).containerId;
    await harness.services.web.restart();
    const after = await harness.services.web.status();
    expect(after.state).toBe("healthy");
    expect(after.containerId).not.toBe(before);
    const answer = await fetch(`http://${harness.services.web.addr}/whoami`);
    expect((await answer.text()).trim()).toBe("web");
  });

  it("stops within the grace period, then kills a container whose PID 1 ignores SIGTERM", async () => {
    const runId = testRunId();
    const harness = await Harness.builder({ runId })
      .docker("stubborn", { image, command: ["sh", "-c", "echo up; while true; do sleep 1; done"], health: { logLine: "up" }, stopTimeoutMs: 1_000 })
      .start();
    const begun = Date.now();
    await harness.stop();
    expect(Date.now() - begun).toBeLessThan(5_000);
    expect(await leftovers(runId)).toEqual([]);
  });

  it("puts files and the env file into the container before it starts", async () => {
    const hostFile = path.join(scratch, "from-host.txt");
    fs.writeFileSync(hostFile, "from the host\n", { mode: 0o640 });
    const harness = await Harness.builder({ runId: testRunId() })
      .docker("cfg", {
        image,
        env: { GREETING: "hello ${HARNESS_SERVICE}" },
        files: { "/etc/app/app.conf": "key=value\n", "/opt/data/from-host.txt": { path: hostFile }, "/bin/probe": { content: "#!/bin/sh\nexit 0\n", mode: 0o755 } },
        command: [
          "sh",
          "-c",
          'cat /etc/app/app.conf /opt/data/from-host.txt; . "$HARNESS_ENV_FILE"; echo "sourced: $GREETING"; stat -c "%a" /opt/data/from-host.txt "$HARNESS_ENV_FILE"; exec sleep 1000',
        ],
        health: { command: ["/bin/probe"] },
        init: true,
      })
      .start();
    started.push(harness);
    expect(harness.envFor("cfg").HARNESS_ENV_FILE).toBe("/opt/harness/cfg/service.env");
    await lineMatching(harness, "cfg", /^600$/);
    const lines: string[] = [];
    for await (const l of harness.services.cfg.logs()) lines.push(l.line);
    expect(lines).toEqual(["key=value", "from the host", "sourced: hello cfg", "640", "600"]);
  });

  it("renders `files` templates with the container's env (peers' addresses as the container sees them, 0600 with a secret)", async () => {
    const template = path.join(scratch, "app.conf.template");
    fs.writeFileSync(template, "upstream = http://${API_ADDR}/\nservice = ${HARNESS_SERVICE}\nlevel = ${LOG_LEVEL:-info}\n");
    const secret = path.join(scratch, "db.ini.template");
    fs.writeFileSync(secret, "password = ${DB_PASSWORD}\n");
    const runId = testRunId();
    const harness = await Harness.builder({ runId })
      .process("api", { binary: process.execPath, args: [HTTP_SERVER], port: 0, health: { http: "/health" } })
      .docker("cfg", {
        image,
        env: { DB_PASSWORD: "s3cret $(x)" },
        files: { "/etc/app/app.conf": { template }, "/etc/app/db.ini": { template: secret } },
        command: ["sh", "-c", 'cat /etc/app/app.conf /etc/app/db.ini; stat -c "%a" /etc/app/app.conf /etc/app/db.ini; echo done; exec sleep 1000'],
        init: true,
      })
      .start();
    started.push(harness);
    const apiAddr = harness.envFor("cfg").API_ADDR;
    // The host as the container reaches it, not 127.0.0.1.
    expect(apiAddr).not.toMatch(/^127\./);
    await lineMatching(harness, "cfg", /^done$/);
    const lines: string[] = [];
    for await (const l of harness.services.cfg.logs()) lines.push(l.line);
    expect(lines).toEqual([`upstream = http://${apiAddr}/`, "service = cfg", "level = info", "password = s3cret $(x)", "644", "600", "done"]);
  });

  it("refuses a `files` template with an unknown variable before any container exists, naming the template and the line", async () => {
    const template = path.join(scratch, "bad.conf.template");
    fs.writeFileSync(template, "ok = ${PORT}\nbad = ${NO_SUCH_THING}\n");
    const runId = testRunId();
    const error = await failure(() =>
      Harness.builder({ runId })
        .docker("cfg", { image, port: 0, files: { "/etc/bad.conf": { template } } })
        .start(),
    );
    expect(error.code).toBe("E_UNKNOWN_VARIABLE");
    expect(error.message).toBe(
      `Line 2 of the template ${template} (\`files["/etc/bad.conf"]\`) of service "cfg" uses \${NO_SUCH_THING}, which is not defined; write $\${NO_SUCH_THING} for a literal, or \${NO_SUCH_THING:-default}`,
    );
    expect(await leftovers(runId)).toEqual([]);
  });

  it("builds an image from a directory, waits on its HEALTHCHECK, and removes the image at the end", async () => {
    const context = path.join(scratch, "hc");
    fs.mkdirSync(context);
    // An interval of 60 s: the container is healthy long before the engine's first check.
    fs.writeFileSync(path.join(context, "Dockerfile"), `FROM ${image}\nCOPY ready.sh /bin/ready.sh\nHEALTHCHECK --interval=60s CMD test -f /tmp/ready\nCMD ["/bin/ready.sh"]\n`);
    fs.writeFileSync(path.join(context, "ready.sh"), "#!/bin/sh\nsleep 1\ntouch /tmp/ready\necho ready\nexec sleep 1000\n", { mode: 0o755 });
    const runId = testRunId();
    const begun = Date.now();
    const harness = await Harness.builder({ runId }).docker("checked", { build: { context }, init: true }).start();
    const took = Date.now() - begun;
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(15_000);
    expect(harness.services.checked.logs).toBeDefined();
    const images = await testDocker().listImages({ filters: { label: [`meshbed.run=${runId}`] } });
    expect(images).toHaveLength(1);
    await harness.stop();
    expect(await leftovers(runId)).toEqual([]);
  });

  it("starts a container from the ADR's YAML (`target.docker`)", async () => {
    const runId = testRunId();
    const spec = parseTopology(`
services:
  web:
    target:
      docker:
        image: ${image}
        env:
          GREETING: hi
        pull: never
        init: true
    port: 0
    health:
      http: /health
`);
    const harness = await Harness.fromSpec(spec).withOptions({ runId }).start();
    started.push(harness);
    expect(harness.registry().web).toMatchObject({ target: "docker", addresses: { container: harness.service("web").addr } });
    expect(harness.envFor("web").GREETING).toBe("hi");
  });
});
