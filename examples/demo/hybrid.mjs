// The ADR's hybrid topology, on real nodes of a lab (network namespaces with their own sshd):
//   api-server      a local process
//   postgres        a container on the local Docker engine
//   cache-server    a process on a LAN node, over SSH
//   load-generator  a process on a WAN node, which reaches the others only through the WireGuard
//                   mesh that the harness makes because this service exists
// It prints the registry and every service's env, has each service call its peers at the
// addresses it was given (load-generator loads api-server through the mesh), and tears
// everything down, the lab included. Needs root, dockerd, sshd and wireguard-go
// (scripts/system/setup.sh installs them).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Harness } from "../../dist/index.js";
import { Lab } from "../../dist/lab.js";

const server = fileURLToPath(new URL("../shared/server.mjs", import.meta.url));
const node = process.execPath;

// No registry is reachable here: the container's image is built from Debian's static busybox.
const context = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-demo-"));
fs.copyFileSync("/bin/busybox", path.join(context, "busybox"));
fs.writeFileSync(
  path.join(context, "Dockerfile"),
  `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["sh", "-c", "mkdir -p /www && echo ok > /www/health && echo $HARNESS_SERVICE > /www/whoami && echo listening on $PORT && exec httpd -f -v -p $PORT -h /www"]
`,
);

console.log("Creating the lab: a LAN node and a WAN node (network namespaces, each with its own sshd)…");
const lab = await Lab.create({
  nodes: [
    { name: "lan1", network: "lan" },
    { name: "wan1", network: "wan" },
  ],
});
const on = (n) => ({ host: n.host, user: n.user, ssh: n.ssh });
let harness;
try {
  harness = await Harness.builder()
    .process("api-server", { binary: node, args: [server], port: 0, health: { http: "/health" } })
    .docker("postgres", { build: { context }, port: 5432, health: { http: "/health" } })
    .remoteLan("cache-server", { ...on(lab.node("lan1")), binary: node, args: [server], port: 6379, health: { http: "/health" } })
    .wireguard("load-generator", {
      ...on(lab.node("wan1")),
      binary: node,
      args: [server],
      port: 9000,
      dependsOn: ["api-server"],
      health: { http: "/health" },
    })
    .start({ onEvent: (e) => console.log(`  ${e.service.padEnd(15)} ${e.state}${e.state === "healthy" && e.addr ? ` at ${e.addr}` : ""}`) });

  console.log(`\nWireGuard mesh: hub ${harness.mesh.interfaceName} at ${harness.mesh.hubIp}`);
  for (const peer of await harness.mesh.peers()) console.log(`  peer ${peer.node} = ${peer.meshIp} (${peer.services.join(", ")}), endpoint ${peer.endpoint}`);
  console.log("\nRegistry:");
  console.log(JSON.stringify(harness.registry(), null, 2));
  for (const name of Object.keys(harness.services)) {
    console.log(`\nEnv of ${name} (${harness.service(name).envFile}):`);
    for (const [key, value] of Object.entries(harness.envFor(name))) console.log(`  ${key}=${value}`);
  }

  console.log("\nConnections, each made by a service to the address it was given:");
  const calls = [
    ["load-generator", "API_SERVER_ADDR"],
    ["load-generator", "POSTGRES_ADDR"],
    ["load-generator", "CACHE_SERVER_ADDR"],
    ["cache-server", "LOAD_GENERATOR_ADDR"],
    ["api-server", "LOAD_GENERATOR_ADDR"],
    ["cache-server", "POSTGRES_ADDR"],
  ];
  for (const [from, variable] of calls) {
    const answer = await fetch(`http://${harness.service(from).addr}/call/${variable}`, { signal: AbortSignal.timeout(10_000) });
    console.log(`  ${from.padEnd(15)} -> $${variable} = ${(await answer.text()).trim()}`);
  }
  let ok = 0;
  const started = Date.now();
  while (Date.now() - started < 2_000) {
    const answer = await fetch(`http://${harness.service("load-generator").addr}/call/API_SERVER_ADDR`);
    if (answer.ok) ok++;
  }
  console.log(`\nload-generator loaded api-server through the mesh: ${ok} requests in 2 s`);
} finally {
  await harness?.stop();
  await lab.destroy();
  fs.rmSync(context, { recursive: true, force: true });
  console.log("\nStopped; the mesh, the containers and the lab are gone.");
}
