import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { type LogLine, ServiceLog } from "../../src/logs/service-log.js";

const text = (lines: readonly LogLine[]) => lines.map((l) => l.line);

/** Collects what an async iterable yields, until it ends. */
async function collect(iterable: AsyncIterable<LogLine>): Promise<string[]> {
  const lines: string[] = [];
  for await (const entry of iterable) lines.push(entry.line);
  return lines;
}

/** Resolves once `log` has handed a line to every follower: a tick after the write. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("line splitting", () => {
  test("a chunk with several lines gives several lines", () => {
    const log = new ServiceLog("api", undefined);
    log.write("stdout", "one\ntwo\nthree\n");
    expect(text(log.tail())).toEqual(["one", "two", "three"]);
  });

  test("a line split across chunks is one line", () => {
    const log = new ServiceLog("api", undefined);
    log.write("stdout", "hel");
    log.write("stdout", Buffer.from("lo wo"));
    expect(log.tail()).toEqual([]);
    log.write("stdout", "rld\nnext");
    expect(text(log.tail())).toEqual(["hello world"]);
    log.write("stdout", "\n");
    expect(text(log.tail())).toEqual(["hello world", "next"]);
  });

  test("`\\r\\n` ends a line, even when split between chunks", () => {
    const log = new ServiceLog("api", undefined);
    log.write("stdout", "a\r\nb\r");
    log.write("stdout", "\nc\r\n");
    expect(text(log.tail())).toEqual(["a", "b", "c"]);
  });

  test("empty lines are kept", () => {
    const log = new ServiceLog("api", undefined);
    log.write("stdout", "a\n\n\nb\n");
    expect(text(log.tail())).toEqual(["a", "", "", "b"]);
  });

  test("stdout and stderr are split separately and each line says which it came from", () => {
    const log = new ServiceLog("api", undefined);
    log.write("stdout", "out-");
    log.write("stderr", "err-");
    log.write("stderr", "line\n");
    log.write("stdout", "line\n");
    expect(log.tail().map((l) => [l.stream, l.line])).toEqual([
      ["stderr", "err-line"],
      ["stdout", "out-line"],
    ]);
  });

  test("each line carries the service and a time", () => {
    const before = Date.now();
    const log = new ServiceLog("api-server", undefined);
    log.write("stderr", "boom\n");
    const [line] = log.tail();
    expect(line).toMatchObject({ service: "api-server", stream: "stderr", line: "boom" });
    expect(line!.time).toBeInstanceOf(Date);
    expect(line!.time.getTime()).toBeGreaterThanOrEqual(before);
    expect(line!.time.getTime()).toBeLessThanOrEqual(Date.now());
  });

  test("multi-byte characters split across Buffer chunks are kept whole", () => {
    const log = new ServiceLog("api", undefined);
    const bytes = Buffer.from("héllo ✓\n");
    // Split inside "é" (2 bytes) and inside "✓" (3 bytes).
    log.write("stdout", bytes.subarray(0, 2));
    log.write("stdout", bytes.subarray(2, 8));
    log.write("stdout", bytes.subarray(8));
    expect(text(log.tail())).toEqual(["héllo ✓"]);
  });

  test("flush emits an unfinished last line", () => {
    const log = new ServiceLog("api", undefined);
    log.write("stdout", "done\npartial");
    log.write("stderr", "err-partial");
    log.flush();
    expect(text(log.tail())).toEqual(["done", "partial", "err-partial"]);
    log.flush();
    expect(text(log.tail())).toHaveLength(3);
  });
});

describe("tail and since", () => {
  const log = new ServiceLog("api", undefined);
  for (let i = 1; i <= 5; i++) log.push("stdout", `line ${i}`);

  test("tail(n) is the last n lines, oldest first", () => {
    expect(text(log.tail(2))).toEqual(["line 4", "line 5"]);
    expect(text(log.tail(100))).toEqual(["line 1", "line 2", "line 3", "line 4", "line 5"]);
    expect(text(log.tail())).toHaveLength(5);
    expect(log.tail(0)).toEqual([]);
    expect(log.tail(-3)).toEqual([]);
  });

  test("since(position) is what came after that position", () => {
    const log = new ServiceLog("api", undefined);
    log.push("stdout", "before");
    const position = log.position;
    expect(position).toBe(1);
    expect(log.since(position)).toEqual([]);
    log.push("stdout", "after 1");
    log.push("stderr", "after 2");
    expect(text(log.since(position))).toEqual(["after 1", "after 2"]);
    expect(text(log.since(0))).toEqual(["before", "after 1", "after 2"]);
    expect(log.since(log.position)).toEqual([]);
    expect(log.since(log.position + 10)).toEqual([]);
  });
});

describe("the ring buffer", () => {
  test("keeps the last 10 000 lines, while position counts every line", () => {
    const log = new ServiceLog("chatty", undefined);
    for (let i = 0; i < 10_050; i++) log.push("stdout", String(i));
    const kept = log.tail();
    expect(kept).toHaveLength(10_000);
    expect(kept[0]!.line).toBe("50");
    expect(kept.at(-1)!.line).toBe("10049");
    expect(log.position).toBe(10_050);
    expect(text(log.tail(2))).toEqual(["10048", "10049"]);
  });

  test("stays capped however many lines come, and tail(n) never exceeds the cap", () => {
    const log = new ServiceLog("chatty", undefined);
    for (let i = 0; i < 35_001; i++) log.push("stdout", String(i));
    expect(log.tail()).toHaveLength(10_000);
    expect(log.tail(50_000)).toHaveLength(10_000);
    expect(log.tail()[0]!.line).toBe("25001");
    expect(log.tail().at(-1)!.line).toBe("35000");
    expect(log.since(0)).toHaveLength(10_000);
    expect(log.since(0)[0]!.line).toBe("25001");
    expect(text(log.since(34_998))).toEqual(["34998", "34999", "35000"]);
  });

  test("a chatty service costs little per line once the ring is full", () => {
    const log = new ServiceLog("chatty", undefined);
    const started = performance.now();
    // Trimming the ring one line at a time took ~7 s for this on these machines.
    for (let i = 0; i < 200_000; i++) log.push("stdout", "x");
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  test("since a position whose lines were dropped gives what is kept", () => {
    const log = new ServiceLog("chatty", undefined);
    log.push("stdout", "first");
    const position = log.position;
    for (let i = 0; i < 10_005; i++) log.push("stdout", String(i));
    const since = log.since(position);
    expect(since).toHaveLength(10_000);
    expect(since[0]!.line).toBe("5");
  });
});

describe("lines()", () => {
  test("without follow, yields the kept lines and ends", async () => {
    const log = new ServiceLog("api", undefined);
    log.write("stdout", "a\nb\nc\n");
    expect(await collect(log.lines())).toEqual(["a", "b", "c"]);
    expect(await collect(log.lines({ tail: 1 }))).toEqual(["c"]);
    expect(await collect(log.lines({ tail: 0 }))).toEqual([]);
  });

  test("follow yields the tail, then new lines live, and ends on close", async () => {
    const log = new ServiceLog("api", undefined);
    log.write("stdout", "old 1\nold 2\n");
    const seen: string[] = [];
    const done = (async () => {
      for await (const entry of log.lines({ follow: true, tail: 1 })) seen.push(entry.line);
    })();
    await tick();
    expect(seen).toEqual(["old 2"]);
    log.write("stdout", "new 1\n");
    await tick();
    expect(seen).toEqual(["old 2", "new 1"]);
    log.write("stderr", "new 2\nnew 3\n");
    log.write("stdout", "unfinished");
    await tick();
    expect(seen).toEqual(["old 2", "new 1", "new 2", "new 3"]);
    await log.close();
    await done;
    // close() flushes the unfinished line to followers before ending them.
    expect(seen).toEqual(["old 2", "new 1", "new 2", "new 3", "unfinished"]);
  });

  test("follow ends on the abort signal, and the log goes on for others", async () => {
    const log = new ServiceLog("api", undefined);
    const controller = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const entry of log.lines({ follow: true, signal: controller.signal })) seen.push(entry.line);
    })();
    log.push("stdout", "one");
    await tick();
    controller.abort();
    await done;
    expect(seen).toEqual(["one"]);
    log.push("stdout", "two");
    expect(seen).toEqual(["one"]);
    expect(text(log.tail())).toEqual(["one", "two"]);
  });

  test("follow with an already aborted signal yields the tail and ends", async () => {
    const log = new ServiceLog("api", undefined);
    log.push("stdout", "kept");
    expect(await collect(log.lines({ follow: true, signal: AbortSignal.abort() }))).toEqual(["kept"]);
  });

  test("follow on a closed log yields the tail and ends", async () => {
    const log = new ServiceLog("api", undefined);
    log.push("stdout", "last words");
    await log.close();
    expect(await collect(log.lines({ follow: true }))).toEqual(["last words"]);
  });

  test("no line is lost or repeated between the tail and the live lines", async () => {
    const log = new ServiceLog("api", undefined);
    log.push("stdout", "0");
    const iterator = log.lines({ follow: true })[Symbol.asyncIterator]();
    const first = await iterator.next();
    // Lines pushed while the reader is still in the tail.
    log.push("stdout", "1");
    log.push("stdout", "2");
    const rest = [await iterator.next(), await iterator.next()];
    expect([first, ...rest].map((r) => r.value?.line)).toEqual(["0", "1", "2"]);
    await iterator.return?.(undefined);
  });

  test("breaking out of a follow unsubscribes it", async () => {
    const log = new ServiceLog("api", undefined);
    const seen: string[] = [];
    const done = (async () => {
      for await (const entry of log.lines({ follow: true })) {
        seen.push(entry.line);
        if (entry.line === "stop") break;
      }
    })();
    log.push("stdout", "a");
    log.push("stdout", "stop");
    await done;
    log.push("stdout", "after");
    await tick();
    expect(seen).toEqual(["a", "stop"]);
  });

  test("several followers each see every line", async () => {
    const log = new ServiceLog("api", undefined);
    const a = collect(log.lines({ follow: true }));
    const b = collect(log.lines({ follow: true }));
    await tick();
    log.write("stdout", "x\ny\n");
    await log.close();
    expect(await a).toEqual(["x", "y"]);
    expect(await b).toEqual(["x", "y"]);
  });

  test("subscribe calls the listener for each new line until unsubscribed", () => {
    const log = new ServiceLog("api", undefined);
    const seen: string[] = [];
    const unsubscribe = log.subscribe((l) => seen.push(l.line));
    log.write("stdout", "a\nb\n");
    unsubscribe();
    log.write("stdout", "c\n");
    expect(seen).toEqual(["a", "b"]);
  });

  test("endFollowers ends the current follows but the log goes on (a restart writes on)", async () => {
    const log = new ServiceLog("api", undefined);
    const first = collect(log.lines({ follow: true }));
    await tick();
    log.push("stdout", "run 1");
    log.endFollowers();
    expect(await first).toEqual(["run 1"]);
    log.push("stdout", "run 2");
    const second = collect(log.lines({ follow: true, tail: 1 }));
    await tick();
    log.push("stdout", "run 2, later");
    await log.close();
    expect(await second).toEqual(["run 2", "run 2, later"]);
    expect(text(log.tail())).toEqual(["run 1", "run 2", "run 2, later"]);
  });

  test("after close, lines are no longer kept", async () => {
    const log = new ServiceLog("api", undefined);
    log.push("stdout", "before");
    await log.close();
    await log.close();
    log.push("stdout", "after");
    expect(text(log.tail())).toEqual(["before"]);
  });
});

describe("the log file", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-log-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("every line is appended to the file, private to the user", async () => {
    const file = path.join(dir, "api.log");
    const log = new ServiceLog("api", file);
    log.write("stdout", "one\r\ntwo\n");
    log.write("stderr", "three");
    await log.close();
    expect(fs.readFileSync(file, "utf8")).toBe("one\ntwo\nthree\n");
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });
});
