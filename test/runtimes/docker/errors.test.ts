import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, Harness, HarnessError, type ErrorCode } from "../../../src/public/index.js";
import { busyboxImage, dockerAvailable, leftovers, testRunId } from "../../support/images.js";

const HTTP_SERVER = fileURLToPath(new URL("../../fixtures/http-server.mjs", import.meta.url));
const ready = await dockerAvailable();

let image: string;
let scratch: string;

async function failure(attempt: () => unknown): Promise<HarnessError> {
  let error: unknown;
  try {
    await attempt();
  } catch (e) {
    error = e;
  }
  expect(error, "expected a HarnessError, but it succeeded").toBeInstanceOf(HarnessError);
  return error as HarnessError;
}

function expectError(error: HarnessError, code: ErrorCode, service: string): void {
  expect(error.code, error.message).toBe(code);
  expect(error.service).toBe(service);
  expect(error.message).toContain(`"${service}"`);
}

/** Nothing of the run: no container, network or image labelled with it, no state dir. */
async function expectNothingLeft(runId: string): Promise<void> {
  expect(await leftovers(runId)).toEqual([]);
  expect(fs.existsSync(path.join(os.tmpdir(), `harness-${runId}`))).toBe(false);
}

describe("docker: options are checked where they are given", () => {
  it("wants exactly one of image and build", () => {
    expect(() => Harness.builder().docker("x", {} as never)).toThrow(/exactly one of `image` and `build`, got neither/);
    expect(() => Harness.builder().docker("x", { image: "a", build: { context: "." } } as never)).toThrow(/got both/);
  });

  it("names the bad field", () => {
    const bad = (options: object) => {
      try {
        Harness.builder().docker("x", { image: "a", ...options } as never);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error("accepted");
    };
    expect(bad({ pull: "sometimes" })).toMatch(/`pull` of service "x" to be one of "missing", "never", "always"/);
    expect(bad({ ports: ["80:http"] })).toMatch(/`ports\[0\]` of service "x"/);
    expect(bad({ files: { "etc/x": "y" } })).toMatch(/absolute, normalized path/);
    expect(bad({ files: { "/x": { path: "a", content: "b" } } })).toMatch(/exactly one of `content`, `path` and `template`, got `content` and `path`/);
    expect(bad({ imgae: "a" })).toMatch(/did you mean `image`/);
  });

  it("reports a bad YAML field by its path", async () => {
    const { parseTopology } = await import("../../../src/public/index.js");
    expect(() => parseTopology("services:\n  db:\n    target:\n      docker:\n        image: x\n        pull: sometimes\n")).toThrow(/services\.db\.target\.docker\.pull/);
  });
});

describe.skipIf(!ready)("docker: bad input is a HarnessError that names the service, and nothing is left", () => {
  beforeAll(async () => {
    image = await busyboxImage();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-docker-errors-"));
  }, 120_000);
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it("a missing image that no registry has: fails fast and says to build or load it", async () => {
    const runId = testRunId();
    const begun = Date.now();
    // A registry on a closed loopback port: the pull is refused at once, without leaving this host.
    const error = await failure(() =>
      Harness.builder({ runId })
        .process("api", { binary: process.execPath, args: [HTTP_SERVER], port: 0 })
        .docker("db", { image: "127.0.0.1:1/meshbed/missing:1", port: 5432 })
        .start(),
    );
    expect(Date.now() - begun).toBeLessThan(5_000);
    expectError(error, "E_IMAGE_NOT_FOUND", "db");
    expect(error.message).toMatch(/not present locally and no registry answered/);
    expect(error.message).toMatch(/docker load/);
    await expectNothingLeft(runId);
  });

  it('a missing image with `pull: "never"`: refused before anything is created', async () => {
    const runId = testRunId();
    const error = await failure(() => Harness.builder({ runId }).docker("db", { image: "meshbed/never-built:1", pull: "never" }).start());
    expectError(error, "E_IMAGE_NOT_FOUND", "db");
    expect(error.message).toMatch(/pull: "never"/);
    await expectNothingLeft(runId);
  });

  it.each([
    ["unix:///nonexistent.sock", /no such socket/],
    ["tcp://127.0.0.1:1", /ECONNREFUSED/],
  ])("an engine that does not answer (DOCKER_HOST=%s): says how to start one or where to point DOCKER_HOST", async (host, reason) => {
    const runId = testRunId();
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = host;
    let error: HarnessError;
    try {
      error = await failure(() =>
        Harness.builder({ runId })
          .process("api", { binary: process.execPath, args: [HTTP_SERVER], port: 0 })
          .docker("db", { image })
          .start(),
      );
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
    expectError(error, "E_DOCKER_UNAVAILABLE", "db");
    expect(error.message).toContain(host);
    expect(error.message).toMatch(reason);
    expect(error.message).toMatch(/DOCKER_HOST/);
    await expectNothingLeft(runId);
  });

  it("a published host port that is taken", async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, resolve));
    const held = (holder.address() as net.AddressInfo).port;
    const runId = testRunId();
    try {
      const error = await failure(() =>
        Harness.builder({ runId })
          .docker("web", { image, port: 80, ports: [`${held}:8080`] })
          .start(),
      );
      expectError(error, "E_PORT_IN_USE", "web");
      expect(error.message).toContain(String(held));
    } finally {
      holder.close();
    }
    await expectNothingLeft(runId);
  });

  it("two containers that publish the same host port", async () => {
    const runId = testRunId();
    const error = await failure(() =>
      Harness.builder({ runId })
        .docker("a", { image, ports: ["18080:80"] })
        .docker("b", { image, ports: ["18080:81"] })
        .start(),
    );
    expectError(error, "E_PORT_IN_USE", "b");
    await expectNothingLeft(runId);
  });

  it("a container that exits at once: its exit code and last log lines", async () => {
    const runId = testRunId();
    const begun = Date.now();
    const error = await failure(() =>
      Harness.builder({ runId })
        .docker("db", { image, command: ["sh", "-c", "echo starting; echo 'fatal: no config' >&2; exit 3"], port: 0 })
        .start(),
    );
    expect(Date.now() - begun).toBeLessThan(10_000);
    expectError(error, "E_EARLY_EXIT", "db");
    expect(error.message).toMatch(/exited with code 3/);
    expect(error.logTail).toEqual(expect.arrayContaining(["starting", "fatal: no config"]));
    await expectNothingLeft(runId);
  });

  it("a command the container cannot run", async () => {
    const runId = testRunId();
    const error = await failure(() =>
      Harness.builder({ runId })
        .docker("db", { image, command: ["/no/such/binary"] })
        .start(),
    );
    expectError(error, "E_SPAWN_FAILED", "db");
    expect(error.message).toMatch(/no such file or directory|not found/i);
    await expectNothingLeft(runId);
  });

  it("a health command that cannot succeed: times out, with the reason in the log tail", async () => {
    const runId = testRunId();
    const error = await failure(() =>
      Harness.builder({ runId })
        .docker("db", { image, port: 0, health: { command: ["no-such-check"] }, startTimeoutMs: 1_500 })
        .start(),
    );
    expectError(error, "E_HEALTH_TIMEOUT", "db");
    expect(error.message).toMatch(/command \["no-such-check"\] never succeeded \(last try: it exited with code 12[67]\)/);
    expect(error.logTail.join("\n")).toMatch(/\[meshbed\] cannot run \["no-such-check"\]/);
    await expectNothingLeft(runId);
  });

  it("a build that fails: the build's own output, and no build container left", async () => {
    const context = path.join(scratch, "broken");
    fs.mkdirSync(context);
    fs.writeFileSync(path.join(context, "Dockerfile"), `FROM ${image}\nRUN echo compiling && echo 'error: it does not compile' && exit 2\n`);
    const runId = testRunId();
    const error = await failure(() => Harness.builder({ runId }).docker("app", { build: { context } }).start());
    expectError(error, "E_IMAGE_BUILD_FAILED", "app");
    expect(error.logTail).toContain("error: it does not compile");
    await expectNothingLeft(runId);
  });

  it("a build context that does not exist", async () => {
    const runId = testRunId();
    const error = await failure(() =>
      Harness.builder({ runId })
        .docker("app", { build: { context: path.join(scratch, "nowhere") } })
        .start(),
    );
    expectError(error, "E_IMAGE_BUILD_FAILED", "app");
    expect(error.message).toMatch(/not a directory/);
    await expectNothingLeft(runId);
  });
});
