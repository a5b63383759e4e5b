import fs from "node:fs";
import path from "node:path";
import { type Browser, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Harness } from "../../src/public/index.js";
import { busyboxImage, dockerAvailable, testRunId } from "../support/images.js";
import { labAvailable, labForSuite, on } from "../support/lab.js";
import { prerequisite } from "../support/prerequisites.js";
import { REPO, fixture, stateDirOf } from "../support/process-tracker.js";

const CHROMIUM = "/usr/bin/chromium";
const NODE = process.execPath;
const HTTP_SERVER = fixture("http-server.mjs");
/** The page's own `document`, as the functions given to `page.evaluate` (run in the browser) see it. */
declare const document: {
  querySelectorAll(selector: string): Iterable<{ getAttribute(name: string): string | null; querySelectorAll(selector: string): Iterable<{ getAttribute(name: string): string | null }> }>;
};

/** Kept after the run (gitignored): what the page looked like. */
const SCREENSHOTS = path.join(REPO, "test-results");

const ready = prerequisite("chromium", fs.existsSync(CHROMIUM), "Run `apt-get install -y chromium` (scripts/system/setup.sh does)") && labAvailable() && (await dockerAvailable());

/** The state the page shows for each service (its SVG element's `data-state`). */
function pageStates(page: Page): Promise<Record<string, string>> {
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll(".service")].map((e) => [e.getAttribute("data-service"), e.getAttribute("data-state")])));
}

async function waitForStates(page: Page, expected: Record<string, string>): Promise<void> {
  await expect.poll(() => pageStates(page), { timeout: 15_000, interval: 50 }).toEqual(expected);
}

/** The status URL the run records in its state file, as soon as its server listens. */
async function statusUrlOf(runId: string): Promise<string> {
  const file = path.join(stateDirOf(runId), "state.json");
  let url: string | undefined;
  await expect
    .poll(
      () => {
        try {
          url = (JSON.parse(fs.readFileSync(file, "utf8")) as { statusUrl?: string }).statusUrl;
        } catch {
          url = undefined;
        }
        return url;
      },
      { timeout: 30_000, interval: 20 },
    )
    .toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  return url!;
}

describe.skipIf(!ready)("the status page, in headless Chromium, during a run with a process, a container and a lab node", () => {
  const labOf = labForSuite([{ name: "sp1", network: "lan" }]);
  let browser: Browser | undefined;
  let harness: Harness | undefined;

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
  });
  afterAll(async () => {
    await harness?.stop().catch(() => {});
    await browser?.close();
  });

  it("draws the topology by location, colours each service by its state live, and tails the log of the one clicked", async () => {
    const image = await busyboxImage();
    const runId = testRunId("sp");
    const node = labOf().node("sp1");
    const starting = Harness.builder({ runId, network: { statusPort: 0 } })
      .docker("cache", { image, port: 8080 })
      .process("api", { binary: NODE, args: [HTTP_SERVER], port: 0, env: { LISTEN_DELAY_MS: "600" }, health: { http: "/health" }, dependsOn: ["cache"] })
      .remoteLan("worker", { ...on(node), binary: NODE, args: [HTTP_SERVER], port: 8091, health: { http: "/health" }, dependsOn: ["api"] })
      .start();
    starting.then((started) => (harness = started)).catch(() => {});

    // Opened while the run starts: the page follows it to healthy.
    const url = await statusUrlOf(runId);
    const page = await browser!.newPage({ viewport: { width: 1100, height: 820 } });
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(url);
    const seenWhileStarting = await pageStates(page);
    const h = await starting;
    await waitForStates(page, { api: "healthy", cache: "healthy", worker: "healthy" });
    // At least one service was not healthy yet when the page first drew (api waits 600 ms to listen).
    expect(Object.values(seenWhileStarting).some((s) => s !== "healthy")).toBe(true);
    expect(await page.textContent("#summary")).toBe("3 of 3 healthy");
    expect(await page.textContent("#connection")).toBe("live");

    // Grouped by location: this host, containers, the LAN node.
    const groups = await page.evaluate(() =>
      [...document.querySelectorAll(".location")].map((g) => [g.getAttribute("data-group"), [...g.querySelectorAll(".service")].map((s) => s.getAttribute("data-service"))]),
    );
    expect(groups).toEqual([
      ["host", ["api"]],
      ["containers", ["cache"]],
      [`lan:${node.host}`, ["worker"]],
    ]);
    expect(await page.evaluate(() => [...document.querySelectorAll(".dependency")].map((p) => `${p.getAttribute("data-from")}->${p.getAttribute("data-to")}`))).toEqual([
      "api->cache",
      "worker->api",
    ]);
    // The hover tooltip: the address each caller reaches the service at.
    const tooltip = await page.textContent("#svc-api title");
    expect(tooltip!.split("\n")).toEqual([
      "api (process)",
      `from this host: ${h.services.api.addr}`,
      `from cache: ${h.services.api.addrFor("cache")}`,
      `from worker: ${h.services.api.addrFor("worker")}`,
    ]);
    expect(h.services.api.addrFor("worker")).toBe(`${node.hostIp}:${h.services.api.port}`);

    // Clicking a service shows its log and its addresses.
    await page.click("#svc-worker");
    await expect.poll(() => page.textContent("#log"), { timeout: 5_000 }).toContain("worker listening on 8091");
    expect(await page.textContent("#log-service")).toBe("worker (remote_lan)");
    expect(await page.textContent("#log-addresses")).toContain(`from api: ${h.services.worker.addrFor("api")}`);
    await page.click("#svc-api");
    await expect.poll(() => page.textContent("#log"), { timeout: 5_000 }).toMatch(/^api listening on \d+$/);

    // Each one killed in turn: the page shows it exited, the others as they were.
    await h.services.worker.kill();
    await waitForStates(page, { api: "healthy", cache: "healthy", worker: "exited" });
    expect(await page.textContent("#summary")).toBe("2 of 3 healthy");
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, "status-page.png"), fullPage: true });
    await h.services.cache.kill();
    await waitForStates(page, { api: "healthy", cache: "exited", worker: "exited" });
    await h.services.api.kill();
    await waitForStates(page, { api: "exited", cache: "exited", worker: "exited" });
    expect(await page.textContent("#svc-api-state")).toBe("exited");
    const exits = await page.evaluate(() => [...document.querySelectorAll('#events li[data-state="exited"]')].map((li) => li.getAttribute("data-service")));
    expect(exits).toEqual(["api", "cache", "worker"]);
    expect((await fetch(`${url}health`)).status).toBe(503);

    // Started again while selected: its new lines arrive live in the log panel.
    await h.services.api.restart();
    await waitForStates(page, { api: "healthy", cache: "exited", worker: "exited" });
    await expect.poll(async () => (await page.textContent("#log"))!.match(/api listening on \d+/g)?.length, { timeout: 5_000 }).toBe(2);
    await page.screenshot({ path: path.join(SCREENSHOTS, "status-page-restarted.png"), fullPage: true });

    // Stopped: every service is shown stopped, then the page knows the feed is gone.
    await h.stop();
    await waitForStates(page, { api: "stopped", cache: "stopped", worker: "stopped" });
    await expect.poll(() => page.getAttribute("#connection", "data-connected"), { timeout: 5_000 }).toBe("false");
    expect(errors).toEqual([]);
    await page.close();
  });
});
