import { fileURLToPath } from "node:url";
import { Harness } from "meshbed";
import { harnessFixture } from "meshbed/vitest";
import { test as base, expect } from "vitest";

const server = fileURLToPath(new URL("../../shared/server.mjs", import.meta.url));

// A topology of this file's own, beside the global one: started when a test first asks for
// `topology`, stopped after this file's last test. Its value is the typed Harness itself.
const test = base.extend(
  "topology",
  { scope: "file" },
  harnessFixture(() =>
    Harness.builder()
      .process("worker", { binary: process.execPath, args: [server], port: 0, health: { http: "/health" } })
      .process("queue", { binary: process.execPath, args: [server], port: 0, health: { http: "/health" } }),
  ),
);

test("the file's own topology is started for it", async ({ topology }) => {
  expect(await (await fetch(`http://${topology.services.worker.addr}/whoami`)).text()).toBe("worker");
  expect(await (await fetch(`http://${topology.services.worker.addr}/call/QUEUE_ADDR`)).text()).toBe(`${topology.services.queue.addr} -> queue`);
});

test("and shared by the file's tests: same run, handles and logs included", async ({ topology }) => {
  expect((await topology.services.queue.status()).state).toBe("healthy");
  const lines: string[] = [];
  for await (const line of topology.services.queue.logs({ tail: 5 })) lines.push(line.line);
  expect(lines.join("\n")).toMatch(/queue listening on \d+/);
});
