import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Harness, HarnessError } from "../../../src/public/index.js";
import { ProcessTracker, alive, fixture, survivors } from "../../support/process-tracker.js";

let t: ProcessTracker;
beforeEach(() => {
  t = new ProcessTracker();
});
afterEach(() => t.cleanup());

/** The process group of a pid, from /proc. */
function pgidOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command (which may hold spaces) : state, ppid, pgrp.
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
}

async function logLines(harness: Harness, service: string): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of harness.service(service).logs()) lines.push(line.line);
  return lines;
}

function script(name: string, body: string): string {
  const file = path.join(t.dir, "bin", name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, body, { mode: 0o755 });
  return file;
}

describe("the process runtime", () => {
  it("makes each service the leader of its own process group, which its children and grandchildren share", async () => {
    const grandchildFile = path.join(t.dir, "grandchild.pid");
    const harness = t.adopt(
      await Harness.builder()
        .process("forker", t.node("fork-grandchild.mjs", { port: 0, stopTimeoutMs: 300, env: { PID_FILE: grandchildFile } }))
        .process("web", t.node("http-server.mjs", { port: 0 }))
        .start(),
    );
    const leader = (await harness.services.forker.status()).pid!;
    const tree = await t.waitForPids("forker", 3);
    expect(tree).toContain(Number(fs.readFileSync(grandchildFile, "utf8")));
    for (const pid of tree) expect(pgidOf(pid)).toBe(leader);
    const web = (await harness.services.web.status()).pid!;
    expect(pgidOf(web)).toBe(web);
    expect(pgidOf(process.pid)).not.toBe(leader);
    await harness.stop();
    expect(await survivors([...tree, web])).toEqual([]);
  });

  it("sends SIGTERM first, and SIGKILL only after `stopTimeoutMs`", async () => {
    const harness = t.adopt(
      await Harness.builder()
        .process("polite", t.node("http-server.mjs", { port: 0, stopTimeoutMs: 20_000 }))
        .process("stubborn", t.node("ignore-sigterm.mjs", { port: 0, stopTimeoutMs: 700 }))
        .start(),
    );
    const { polite, stubborn } = harness.services;
    const pids = t.pids();

    let stopping = Date.now();
    await polite.stop();
    // It handled SIGTERM (closed its server, exited 0) long before its 20 s grace.
    expect(Date.now() - stopping).toBeLessThan(5_000);
    expect(await polite.status()).toMatchObject({ state: "stopped", exitCode: 0, exitSignal: null });

    stopping = Date.now();
    await stubborn.stop();
    const took = Date.now() - stopping;
    expect(took).toBeGreaterThanOrEqual(700);
    expect(took).toBeLessThan(5_000);
    expect(await stubborn.status()).toMatchObject({ state: "stopped", exitCode: null, exitSignal: "SIGKILL" });
    expect(await logLines(harness, "stubborn")).toEqual(["ready", "ignoring SIGTERM"]);
    expect(await survivors(pids)).toEqual([]);
    await harness.stop();
  });

  it("counts a killed grandchild as gone at once, without waiting for init to reap it", async () => {
    const grandchildFile = path.join(t.dir, "grandchild.pid");
    const harness = t.adopt(
      await Harness.builder()
        .process("forker", t.node("fork-grandchild.mjs", { port: 0, stopTimeoutMs: 300, env: { PID_FILE: grandchildFile } }))
        .start(),
    );
    const tree = await t.waitForPids("forker", 3);
    // Let the grandchild's script install its SIGTERM handler (it runs right after its pid is recorded).
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stopping = Date.now();
    await harness.stop();
    const took = Date.now() - stopping;
    // The grandchild ignored SIGTERM, so the stop took the grace period and a SIGKILL; its parent
    // had died, so it was orphaned, and init (which reaps orphans ~1.5 s late here) had to reap it.
    expect(took).toBeGreaterThanOrEqual(300);
    expect(took).toBeLessThan(1_200);
    expect(await survivors(tree)).toEqual([]);
  });

  it("finds a relative binary from `cwd`, and a bare name on the service's PATH", async () => {
    const serve = script("serve.sh", `#!/bin/sh\nexec "${process.execPath}" "${fixture("http-server.mjs")}"\n`);
    const harness = t.adopt(
      await Harness.builder()
        .process("relative", { binary: "./bin/serve.sh", cwd: t.dir, port: 0, env: t.env() })
        .process("onpath", { binary: "serve.sh", port: 0, env: { ...t.env(), PATH: `${path.dirname(serve)}:${process.env.PATH}` } })
        .start(),
    );
    for (const name of ["relative", "onpath"] as const) {
      const response = await fetch(`http://${harness.services[name].addr}/whoami`);
      expect(await response.text()).toBe(name);
    }
    await harness.stop();
    expect(await survivors(t.pids())).toEqual([]);
  });

  it("runs in `cwd` with interpolated args", async () => {
    const harness = t.adopt(
      await Harness.builder()
        .process("db", t.node("http-server.mjs", { port: 0 }))
        .process("tool", {
          binary: "sh",
          args: ["-c", 'echo "cwd=$(pwd) db=$1 port=$2 literal=$3"; exec sleep 30', "sh", "${DB_ADDR}", "${PORT}", "$${NOT_EXPANDED}"],
          cwd: t.dir,
          port: 0,
          env: t.env(),
          health: { logLine: "cwd=" },
        })
        .start(),
    );
    t.watch((await harness.services.tool.status()).pid!);
    const { db, tool } = harness.services;
    expect(await logLines(harness, "tool")).toEqual([`cwd=${t.dir} db=${db.addr} port=${tool.port} literal=\${NOT_EXPANDED}`]);
    await harness.stop();
  });

  it("writes `files` under HARNESS_FILES_DIR before it starts (templates rendered with its env, 0600 with a secret), and removes them with the run", async () => {
    const template = path.join(t.dir, "app.conf.template");
    fs.writeFileSync(template, "db = ${DB_ADDR}\nport = ${PORT}\nfiles = ${HARNESS_FILES_DIR}\n");
    const secret = path.join(t.dir, "creds.template");
    fs.writeFileSync(secret, "token = ${API_TOKEN}\n");
    const copied = path.join(t.dir, "plain.txt");
    fs.writeFileSync(copied, "as is ${NOT_RENDERED}\n", { mode: 0o640 });
    const harness = t.adopt(
      await Harness.builder()
        .process("db", t.node("http-server.mjs", { port: 0 }))
        .process("tool", {
          binary: "sh",
          args: [
            "-c",
            'cd "$HARNESS_FILES_DIR" && cat "$1" creds conf/plain.txt conf/inline.ini && stat -c "%n %a" "$1" creds conf/plain.txt conf/inline.ini && echo done; exec sleep 30',
            "sh",
            "${HARNESS_FILES_DIR}/app.conf",
          ],
          port: 0,
          env: { ...t.env(), API_TOKEN: "t0k3n" },
          files: { "app.conf": { template }, creds: { template: secret }, "conf/plain.txt": { path: copied }, "conf/inline.ini": "inline = 1\n" },
          health: { logLine: "done" },
        })
        .start(),
    );
    t.watch((await harness.services.tool.status()).pid!);
    const { db, tool } = harness.services;
    const dir = tool.env.HARNESS_FILES_DIR!;
    expect(dir).toBe(path.join(path.dirname(tool.envFile), "files"));
    expect(await logLines(harness, "tool")).toEqual([
      `db = ${db.addr}`,
      `port = ${tool.port}`,
      `files = ${dir}`,
      "token = t0k3n",
      "as is ${NOT_RENDERED}",
      "inline = 1",
      `${dir}/app.conf 644`,
      "creds 600",
      "conf/plain.txt 640",
      "conf/inline.ini 644",
      "done",
    ]);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(db.env.HARNESS_FILES_DIR).toBeUndefined();
    await harness.stop();
    expect(fs.existsSync(dir)).toBe(false);
  });

  it("refuses a missing `files` template, or one with an unknown variable, before anything starts", async () => {
    const missing = await Harness.builder()
      .process("db", t.node("http-server.mjs", { port: 0 }))
      .process("tool", { binary: "sh", files: { "app.conf": { template: path.join(t.dir, "nope.template") } } })
      .start()
      .catch((e: unknown) => e as HarnessError);
    expect(missing).toBeInstanceOf(HarnessError);
    expect((missing as HarnessError).message).toBe(`The file ${path.join(t.dir, "nope.template")} that service "tool" writes to app.conf does not exist: fix \`files["app.conf"].template\``);
    const template = path.join(t.dir, "bad.template");
    fs.writeFileSync(template, "a = ${DB_ADR}\n");
    const unknown = await Harness.builder()
      .process("db", t.node("http-server.mjs", { port: 0 }))
      .process("tool", { binary: "sh", files: { "app.conf": { template } } })
      .start()
      .catch((e: unknown) => e as HarnessError);
    expect((unknown as HarnessError).code).toBe("E_UNKNOWN_VARIABLE");
    expect((unknown as HarnessError).message).toBe(`Line 1 of the template ${template} (\`files["app.conf"]\`) of service "tool" uses \${DB_ADR}, which is not defined: did you mean \${DB_ADDR}?`);
    // Preflight refused it: "db" never started.
    expect(t.pids("db")).toEqual([]);
  });

  it("passes the harness's environment under the service's unless `inheritEnv: false`", async () => {
    process.env.MESHBED_TEST_INHERITED = "from the test";
    try {
      const harness = t.adopt(
        await Harness.builder()
          .process("inherits", t.node("http-server.mjs", { port: 0 }))
          .process("sealed", t.node("http-server.mjs", { port: 0, inheritEnv: false, env: { OWN: "value" } }))
          .start(),
      );
      const envOf = async (name: "inherits" | "sealed") => (await (await fetch(`http://${harness.services[name].addr}/env`)).json()) as Record<string, string>;
      expect((await envOf("inherits")).MESHBED_TEST_INHERITED).toBe("from the test");
      const sealed = await envOf("sealed");
      expect(sealed.MESHBED_TEST_INHERITED).toBeUndefined();
      expect(sealed.HOME).toBeUndefined();
      expect(sealed).toMatchObject({ OWN: "value", PORT: String(harness.services.sealed.port), INHERITS_ADDR: harness.services.inherits.addr });
      await harness.stop();
    } finally {
      delete process.env.MESHBED_TEST_INHERITED;
    }
  });

  it("reports a binary that exists but cannot be executed by the system", async () => {
    const broken = script("broken.sh", "#!/nonexistent/interpreter\n");
    const error = await Harness.builder()
      .process("db", t.node("http-server.mjs", { port: 0 }))
      .process("broken", { binary: broken, port: 0, dependsOn: ["db"] })
      .start()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(HarnessError);
    expect((error as HarnessError).code).toBe("E_SPAWN_FAILED");
    expect((error as HarnessError).service).toBe("broken");
    expect((error as HarnessError).message).toContain(broken);
    expect(t.pids("db")).toHaveLength(1);
    expect(await survivors(t.pids())).toEqual([]);
    expect(t.pids().some(alive)).toBe(false);
  });
});
