// The demo topology, started from the built package: web -> api -> db, each a local process.
// Prints the registry and every service's env, proves the injected addresses connect, stops.
import { Harness } from "../../dist/index.js";

const harness = await Harness.fromFile(new URL("./services.yaml", import.meta.url).pathname).start({
  onEvent: (e) => console.log(`  ${e.service.padEnd(6)} ${e.state}${e.state === "healthy" && e.addr ? ` at ${e.addr}` : ""}`),
});
try {
  console.log("\nRegistry:");
  console.log(JSON.stringify(harness.registry(), null, 2));
  for (const name of Object.keys(harness.services)) {
    console.log(`\nEnv of ${name} (${harness.service(name).envFile}):`);
    for (const [key, value] of Object.entries(harness.envFor(name))) console.log(`  ${key}=${value}`);
  }
  console.log("\nConnections, each made by a service to the address it was given:");
  for (const [from, variable] of [["web", "API_ADDR"], ["api", "DB_ADDR"], ["db", "WEB_ADDR"]]) {
    const answer = await fetch(`http://${harness.service(from).addr}/call/${variable}`);
    console.log(`  ${from} -> $${variable} = ${await answer.text()}`);
  }
} finally {
  await harness.stop();
  console.log("\nStopped; nothing is left running.");
}
