// Done-when of issue #12, checked as a user would: run in a temp project that installed the packed
// package (`npm pack`, then `npm install ./meshbed-*.tgz dockerode`), as root, with server.mjs
// (examples/shared/server.mjs) beside it and the test busybox image on this host (built by the e2e tests).
// Done-when of #12, as a user would: the packed package, a lab, four kinds of services.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import path from "node:path";
import Docker from "dockerode";
import { Harness, HarnessError } from "meshbed";
import { Lab } from "meshbed/lab";

const here = path.dirname(new URL(import.meta.url).pathname);
const SERVER = path.join(here, "server.mjs");
const local = new Docker();
const results = [];
const check = (what, ok, detail = "") => {
  results.push(`${ok ? "ok  " : "FAIL"} ${what}${detail ? `: ${detail}` : ""}`);
};
const base = execFileSync("docker", ["images", "-q", "--filter", "label=meshbed.test=busybox"], { encoding: "utf8" }).trim().split("\n")[0];
const image = `meshbed-pack/box:${process.pid}`;
execFileSync("docker", ["tag", base, image]);
const lab = await Lab.create({
  nodes: [
    { name: "pl", network: "lan", docker: true },
    { name: "pw", network: "wan", docker: true },
    { name: "pn", network: "lan" },
  ],
});
const engineOf = (n) => new Docker({ socketPath: lab.node(n).dockerHost.slice("unix://".length) });
const on = (n) => ({ host: lab.node(n).host, user: lab.node(n).user, ssh: lab.node(n).ssh });
async function leftovers(runId) {
  const out = [];
  for (const [name, d] of [
    ["host", local],
    ["pl", engineOf("pl")],
    ["pw", engineOf("pw")],
  ]) {
    for (const c of await d.listContainers({ all: true, filters: { label: [`meshbed.run=${runId}`] } })) out.push(`${name} container ${c.Names[0]}`);
    for (const n of await d.listNetworks({ filters: { label: [`meshbed.run=${runId}`] } })) out.push(`${name} network ${n.Name}`);
    if (name !== "host") for (const i of await d.listImages()) if ((i.RepoTags ?? []).includes(image)) out.push(`${name} image ${image}`);
  }
  return out;
}
const expectError = async (what, start, code, words) => {
  const runId = `pk${Math.random().toString(36).slice(2, 7)}`;
  const e = await start(runId).then(
    (h) => h.stop().then(() => undefined),
    (x) => x,
  );
  const ok = e instanceof HarnessError && e.code === code && words.every((w) => e.message.includes(w)) && e.service !== undefined;
  const left = await leftovers(runId);
  check(
    `${what} → ${code} naming service, node, what to do; nothing left`,
    ok && left.length === 0,
    e ? `${e.code} service=${e.service}: ${e.message.slice(0, 240)}${left.length ? ` LEFT ${left}` : ""}` : "no error",
  );
};
try {
  for (const n of ["pl", "pw"]) check(`node ${n} never had the image`, !(await engineOf(n).listImages()).some((i) => (i.RepoTags ?? []).includes(image)));
  // Something of the node's own holds 8080 on pl: the container must move to a free node port.
  const holder = lab.exec("pl", ["timeout", "60", process.execPath, "-e", "require('net').createServer().listen(8080)"]);
  for (let i = 0; i < 100 && (await lab.exec("pl", ["ss", "-Htln", "sport = :8080"])).stdout.trim() === ""; i++) await new Promise((r) => setTimeout(r, 100));
  const runId = `pk${process.pid}`;
  const t0 = Date.now();
  const harness = await Harness.builder({ runId })
    .process("proc", { binary: process.execPath, args: [SERVER], port: 0, health: { http: "/health" } })
    .docker("box", { image, port: 8080, health: { http: "/health" } })
    .remoteLan("lanbox", { ...on("pl"), docker: { image, env: { GREETING: "hello" } }, port: 8080, health: { http: "/health" } })
    .wireguard("wgbox", { ...on("pw"), docker: { image }, port: 8080, health: { http: "/health" } })
    .start();
  check("four-kind topology starts", true, `${Date.now() - t0} ms; lanbox at ${harness.service("lanbox").addr} (8080 held on the node), wgbox at ${harness.service("wgbox").addr}`);
  check("container on the LAN node moved off the taken 8080", !harness.service("lanbox").addr.endsWith(":8080"));
  const names = ["proc", "box", "lanbox", "wgbox"];
  let cells = 0;
  for (const caller of names) {
    for (const target of names) {
      if (caller === target) continue;
      const variable = `${target.toUpperCase()}_ADDR`;
      const given = harness.envFor(caller)[variable];
      const url = caller === "proc" ? `http://${harness.service(caller).addr}/call/${variable}` : `http://${harness.service(caller).addr}/cgi-bin/call?${variable}`;
      const answer = (await (await fetch(url, { signal: AbortSignal.timeout(15000) })).text()).trim();
      const ok = answer === `${given} -> ${target}`;
      if (ok) cells++;
      else check(`${caller} → ${target}`, false, `${variable}=${given}: ${answer}`);
    }
  }
  check("every caller → target connects (12 cells)", cells === 12, `${cells}/12`);
  check("the test reaches each from the host", (await Promise.all(names.map(async (n) => (await (await fetch(`http://${harness.service(n).addr}/whoami`)).text()).trim() === n))).every(Boolean));
  await harness.stop();
  const left = await leftovers(runId);
  check("stop() leaves no container, network or image of the run on any engine", left.length === 0, left.join(", "));
  await lab.exec("pl", ["sh", "-c", "kill $(ss -Htlnp 'sport = :8080' | grep -o 'pid=[0-9]*' | cut -d= -f2) 2>/dev/null; true"]);
  await holder.catch(() => {});

  // SIGKILL of a harness, then `meshbed cleanup`.
  const crashId = `pc${process.pid}`;
  const child = spawn(
    process.execPath,
    [
      "-e",
      `
    const { Harness } = await import("meshbed");
    const h = await Harness.builder({ runId: ${JSON.stringify(crashId)} })
      .remoteLan("lanbox", { ...${JSON.stringify(on("pl"))}, docker: { image: ${JSON.stringify(image)} }, port: 8080, health: { http: "/health" } })
      .wireguard("wgbox", { ...${JSON.stringify(on("pw"))}, docker: { image: ${JSON.stringify(image)} }, port: 8080, health: { http: "/health" } })
      .docker("box", { image: ${JSON.stringify(image)}, port: 8080 })
      .start();
    console.log("started"); setInterval(() => {}, 1000);`,
    ],
    { cwd: here, stdio: ["ignore", "pipe", "inherit"], env: { ...process.env } },
  );
  child.stdin?.end();
  await new Promise((resolve, reject) => {
    child.stdout.on("data", (d) => d.toString().includes("started") && resolve());
    child.once("exit", (c) => reject(new Error(`child exited ${c}`)));
  }).catch((e) => check("crash child started", false, e.message));
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
  const before = await leftovers(crashId);
  check("after SIGKILL the run's things are still there (to be reaped)", before.length > 0, before.join(", "));
  const cleanup = spawnSync(path.join(here, "node_modules/.bin/meshbed"), ["cleanup"], { encoding: "utf8" });
  const out = `${cleanup.stdout}\n${cleanup.stderr}`;
  console.log(`meshbed cleanup exit ${cleanup.status}:\n${out}`);
  const after = await leftovers(crashId);
  check(
    "`meshbed cleanup` leaves none of them",
    after.length === 0,
    `${out
      .trim()
      .split("\n")
      .filter((l) => l.includes(crashId))
      .join("; ")} ${after.join(", ")}`,
  );

  // YAML and `meshbed plan`: docker options of a node container, its port read from the node; the CLI ends (no SSH left open).
  const yaml = path.join(here, "services.yaml");
  const pl = lab.node("pl");
  (await import("node:fs")).writeFileSync(
    yaml,
    `services:
  db:
    port: 22
    target:
      remote_lan:
        host: ${pl.host}
        user: ${pl.user}
        ssh: { port: ${pl.ssh.port}, identity_file: ${pl.ssh.identityFile}, known_hosts_file: ${pl.ssh.knownHostsFile} }
        docker:
          image: ${image}
          pull: never
          init: true
          env: { GREETING: hi }
          command: [sh, -c, "exec /bin/serve"]
`,
  );
  const t1 = Date.now();
  const planned = spawnSync(path.join(here, "node_modules/.bin/meshbed"), ["plan", "-f", yaml, "--json"], { encoding: "utf8", timeout: 30000 });
  const plan = planned.status === 0 ? JSON.parse(planned.stdout) : undefined;
  check(
    "`meshbed plan` of a YAML node container: port 22 (sshd holds it on the node) moves to a free node port; docker.env in env; the CLI exits",
    plan !== undefined && !plan.registry.db.addr.endsWith(":22") && plan.env.db.GREETING === "hi" && plan.env.db.PORT === "22",
    `${Date.now() - t1} ms, exit ${planned.status}, addr ${plan?.registry.db.addr} ${planned.stderr.slice(0, 300)}`,
  );

  // Bad input.
  await expectError(
    "no engine on the node",
    (id) =>
      Harness.builder({ runId: id })
        .remoteLan("nobox", { ...on("pn"), docker: { image }, port: 8080 })
        .start(),
    "E_DOCKER_UNAVAILABLE",
    [`node ${lab.node("pn").user}@${lab.node("pn").host}`, "install one there"],
  );
  await expectError(
    "image missing everywhere",
    (id) =>
      Harness.builder({ runId: id })
        .remoteLan("ghost", { ...on("pl"), docker: { image: "meshbed-pack/never-built:1", pull: "never" }, port: 8080 })
        .start(),
    "E_IMAGE_NOT_FOUND",
    ["node root@", "load it on either"],
  );
  const holder2 = lab.exec("pl", ["timeout", "60", process.execPath, "-e", "require('net').createServer().listen(8091)"]);
  for (let i = 0; i < 100 && (await lab.exec("pl", ["ss", "-Htln", "sport = :8091"])).stdout.trim() === ""; i++) await new Promise((r) => setTimeout(r, 100));
  await expectError(
    "port taken on the node (fixed by the user)",
    (id) =>
      Harness.builder({ runId: id })
        .remoteLan("clash", { ...on("pl"), docker: { image, ports: ["8091:8091"] }, port: 8091 })
        .start(),
    "E_PORT_IN_USE",
    ["node root@", "stop what holds it on the node"],
  );
  await lab.exec("pl", ["sh", "-c", "kill $(ss -Htlnp 'sport = :8091' | grep -o 'pid=[0-9]*' | cut -d= -f2) 2>/dev/null; true"]);
  await holder2.catch(() => {});
  await expectError(
    "container exiting at once on the node",
    (id) =>
      Harness.builder({ runId: id })
        .remoteLan("quitter", { ...on("pl"), docker: { image, command: ["sh", "-c", "echo bye; exit 3"] }, port: 8080 })
        .start(),
    "E_EARLY_EXIT",
    ["node root@"],
  );
} catch (error) {
  check("unexpected", false, error.stack);
} finally {
  await lab.destroy();
  execFileSync("docker", ["rmi", image]);
  console.log(results.join("\n"));
}
