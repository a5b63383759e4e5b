import { useHarness } from "meshbed/vitest";
import { expect, test } from "vitest";

test("the api answers at the address the harness gives", async () => {
  const harness = useHarness();
  const answer = await fetch(`http://${harness.services.api!.addr}/whoami`);
  expect(await answer.text()).toBe("api");
});

test("the api reaches the db through the DB_ADDR it was given", async () => {
  const harness = useHarness();
  expect(harness.env.api!.DB_ADDR).toBe(harness.services.db!.addr);
  const answer = await fetch(`http://${harness.services.api!.addr}/call/DB_ADDR`);
  expect(await answer.text()).toBe(`${harness.services.db!.addr} -> db`);
});

test("the container answers at its published address, and the api reaches it through CACHE_ADDR", async () => {
  const harness = useHarness();
  expect(harness.services.cache!.target).toBe("docker");
  expect(await (await fetch(`http://${harness.services.cache!.addr}/whoami`)).text()).toBe("cache\n");
  const answer = await fetch(`http://${harness.services.api!.addr}/call/CACHE_ADDR`);
  expect(await answer.text()).toBe(`${harness.env.api!.CACHE_ADDR} -> cache\n`);
});

test("the container reaches the api (a local process) through the API_ADDR it was given", async () => {
  const harness = useHarness();
  const answer = await fetch(`http://${harness.services.cache!.addr}/cgi-bin/call?API_ADDR`);
  expect(await answer.text()).toBe(`${harness.env.cache!.API_ADDR} -> api`);
});
