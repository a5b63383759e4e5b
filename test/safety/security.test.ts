/**
 * Secrets stay secret and input stays data: private files are 0600 and run dirs 0700 (here and
 * on a node), debug logs of a full run hold no key and no env value, shell metacharacters in
 * env values and args never run (locally, in a container, over SSH), service names cannot carry
 * them, and host keys are verified unless the user opts out.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { Harness } from "../../src/public/index.js";
import { busyboxImage, dockerAvailable, leftovers, testRunId } from "../support/images.js";
import { labAvailable, labForSuite, on } from "../support/lab.js";
import { fixture, stateDirOf } from "../support/process-tracker.js";

const NODE = process.execPath;
const SERVER = fixture("http-server.mjs");
const ready = labAvailable() && (await dockerAvailable());

/** Every file and dir under `dir`, with its permission bits. */
function modes(dir: string): { file: string; mode: number; dir: boolean }[] {
  const out: { file: string; mode: number; dir: boolean }[] = [];
  const walk = (d: string) => {
    const st = fs.statSync(d);
    out.push({ file: d, mode: st.mode & 0o777, dir: true });
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else out.push({ file: full, mode: fs.statSync(full).mode & 0o777, dir: false });
    }
  };
  walk(dir);
  return out;
}

/** Texts no debug line may hold: any PEM header, the key's body lines, the secret. */
function forbidden(privateKey: string, secret: string): string[] {
  const body = privateKey
    .split("\n")
    .filter((l) => l.length >= 40 && !l.startsWith("-----"))
    .map((l) => l.slice(0, 40));
  return ["-----BEGIN", secret, ...body];
}

/** Hostile text: each shell construct would create a /tmp/pwned-* file if anything evaluated it. */
const HOSTILE = `$(touch /tmp/pwned-dollar) \`touch /tmp/pwned-tick\` '"; touch /tmp/pwned-semi; echo "\n$(touch /tmp/pwned-nl)\n;touch /tmp/pwned-bare`;
const PWNED = /^pwned-/;

describe.skipIf(!ready)("security", () => {
  const labOf = labForSuite([
    { name: "s1", network: "lan" },
    { name: "s2", network: "lan", user: "mbsec" },
  ]);
  let image: string;
  const started: Harness[] = [];

  beforeAll(async () => {
    image = await busyboxImage();
  }, 180_000);
  afterEach(async () => {
    for (const harness of started.splice(0)) await harness.stop().catch(() => {});
    for (const f of fs.readdirSync("/tmp").filter((n) => PWNED.test(n))) fs.rmSync(path.join("/tmp", f), { force: true });
  });

  it("env files, logs and state are 0600 and run dirs 0700, locally and on a node (root and a plain user)", async () => {
    const harness = await Harness.builder({ runId: testRunId("sm") })
      .process("p", { binary: NODE, args: [SERVER], port: 0, env: { SECRET: "x" } })
      .docker("c", { image, port: 8080, env: { SECRET: "x" } })
      .remoteLan("r", { ...on(labOf().node("s1")), binary: NODE, args: [SERVER], port: 8096, env: { SECRET: "x" } })
      .remoteLan("u", { ...on(labOf().node("s2")), binary: NODE, args: [SERVER], port: 8097, env: { SECRET: "x" } })
      .start();
    started.push(harness);
    const local = modes(stateDirOf(harness.runId));
    expect(local.filter((e) => e.file.endsWith("service.env")).length).toBe(4);
    for (const entry of local) expect({ file: entry.file, mode: entry.mode.toString(8) }).toEqual({ file: entry.file, mode: entry.dir ? "700" : "600" });
    // The lab's client key, as the ssh options point at it.
    expect(fs.statSync(labOf().node("s1").identityFile).mode & 0o777).toBe(0o600);

    for (const [node, service] of [
      ["s1", "r"],
      ["s2", "u"],
    ] as const) {
      const dir = `/opt/harness/${service}`;
      const stat = await labOf().exec(node, ["stat", "-c", "%a %U %n", dir, `${dir}/service.env`]);
      const [dirLine, envLine] = stat.stdout.trim().split("\n");
      expect(dirLine).toBe(`700 ${labOf().node(node).user} ${dir}`);
      expect(envLine).toBe(`600 ${labOf().node(node).user} ${dir}/service.env`);
    }
  });

  it("DEBUG=meshbed:* logs of a full run (process, container, lab node) hold no key material and no env value", async () => {
    const n1 = labOf().node("s1");
    const secret = `s3cr3t-${randomBytes(8).toString("hex")}`;
    const runId = testRunId("sd");
    const child = execFile(NODE, ["--import", "tsx", fixture("secret-harness-child.mts")], {
      env: {
        ...process.env,
        DEBUG: "meshbed:*",
        SECRET: secret,
        RUN_ID: runId,
        IMAGE: image,
        LAB_NODE: JSON.stringify({ host: n1.host, user: n1.user, port: n1.port, privateKey: n1.privateKey, knownHostsFile: n1.knownHostsFile }),
      },
      maxBuffer: 64 * 1024 * 1024,
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d));
    child.stderr!.on("data", (d: Buffer) => (stderr += d));
    const code = await new Promise((resolve) => child.once("exit", resolve));
    expect(code, stderr.slice(-2000)).toBe(0);
    expect(JSON.parse(stdout.trim().split("\n").at(-1)!)).toEqual({ ok: true, runId });
    // The logs were on, for every area the run went through.
    for (const area of ["harness", "process", "docker", "ssh"]) expect(stderr).toContain(`meshbed:${area} `);
    for (const text of forbidden(n1.privateKey, secret)) expect(stderr.includes(text), `debug output holds ${text.slice(0, 12)}…`).toBe(false);
    expect(n1.privateKey).toContain("-----BEGIN");
    expect(await leftovers(runId)).toEqual([]);
    expect(fs.existsSync(stateDirOf(runId))).toBe(false);
  }, 120_000);

  it("env values and args with shell metacharacters reach the service as data, locally, in a container and over SSH", async () => {
    const harness = await Harness.builder({ runId: testRunId("sx") })
      .process("p", { binary: NODE, args: [SERVER, HOSTILE], port: 0, env: { HOSTILE } })
      .docker("c", { image, port: 8080, env: { HOSTILE } })
      .remoteLan("r", { ...on(labOf().node("s1")), binary: NODE, args: [SERVER, HOSTILE], port: 8098, env: { HOSTILE } })
      .remoteLan("u", { ...on(labOf().node("s2")), binary: NODE, args: [SERVER, HOSTILE], port: 8099, env: { HOSTILE } })
      .start();
    started.push(harness);
    for (const name of ["p", "r", "u"] as const) {
      const env = (await (await fetch(`http://${harness.services[name].addr}/env`)).json()) as Record<string, string>;
      expect(env.HOSTILE).toBe(HOSTILE);
    }
    const pid = (await harness.services.p.status()).pid!;
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")).toContain(HOSTILE);
    const inContainer = await new Promise<string>((resolve) =>
      execFile("docker", ["exec", `mb-${harness.runId}-c`, "sh", "-c", 'printf %s "$HOSTILE"'], { encoding: "utf8" }, (_e, out) => resolve(out)),
    );
    expect(inContainer).toBe(HOSTILE);
    // The env file a user may `source` gives back the same value, without running any of it.
    const sourced = await labOf().exec("s1", ["sh", "-c", '. /opt/harness/r/service.env && printf %s "$HOSTILE"']);
    expect(sourced.stdout).toBe(HOSTILE);

    expect(fs.readdirSync("/tmp").filter((n) => PWNED.test(n))).toEqual([]);
    for (const node of ["s1", "s2"]) expect((await labOf().exec(node, ["ls", "-A", "/tmp"])).stdout.split("\n").filter((n) => PWNED.test(n))).toEqual([]);
  });

  it("service names that a shell would act on are refused before anything runs", () => {
    for (const name of ["$(touch /tmp/pwned-name)", "`id`", "a;b", "a b", "a\nb", "a'b", 'a"b', "a|b", "../x"]) {
      expect(() => Harness.builder().process(name, { binary: NODE, port: 0 }), name).toThrow(expect.objectContaining({ code: "E_CONFIG" }));
    }
    expect(fs.readdirSync("/tmp").filter((n) => PWNED.test(n))).toEqual([]);
  });

  it("verifies host keys by default: a node whose key is in no known_hosts is refused; opting out connects", async () => {
    const n1 = labOf().node("s1");
    const knownHosts = path.join(os.homedir(), ".ssh", "known_hosts");
    const before = fs.existsSync(knownHosts) ? fs.readFileSync(knownHosts, "utf8") : undefined;
    {
      // Only the key is given: known_hosts comes from the defaults (~/.ssh/known_hosts), which lacks the lab's.
      const ssh = { port: n1.port, identityFile: n1.identityFile };
      const runId = testRunId("sk");
      await expect(
        Harness.builder({ runId })
          .remoteLan("r", { host: n1.host, user: n1.user, binary: NODE, args: [SERVER], port: 8100, ssh })
          .start(),
      ).rejects.toMatchObject({ code: "E_SSH_HOST_KEY", message: expect.stringContaining('"r"') });
      expect(fs.existsSync(stateDirOf(runId))).toBe(false);
      // Refused, and not learnt either.
      expect(fs.existsSync(knownHosts) ? fs.readFileSync(knownHosts, "utf8") : undefined).toBe(before);

      const harness = await Harness.builder({ runId: testRunId("sk") })
        .remoteLan("r", { host: n1.host, user: n1.user, binary: NODE, args: [SERVER], port: 8100, ssh: { ...ssh, strictHostKeyChecking: "no" } })
        .start();
      started.push(harness);
      expect(await (await fetch(`http://${harness.services.r.addr}/whoami`)).text()).toBe("r");
    }
  });
});
