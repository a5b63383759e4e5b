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
