/** A run's state file, rewritten in place while it fits one page: always whole JSON for the reaper. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { StateFileWriter, readStateFile } from "../../src/state/state-file.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function newFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-state-file-"));
  dirs.push(dir);
  return path.join(dir, "state.json");
}

describe("StateFileWriter", () => {
  it("makes the file 0600 and rewrites it in place (the same inode), a shorter text padded to stay whole JSON", () => {
    const file = newFile();
    const writer = StateFileWriter.create(file, JSON.stringify({ resources: ["a", "b", "c"] }));
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const inode = fs.statSync(file).ino;
    writer.write(JSON.stringify({ resources: ["a"] }));
    expect(fs.statSync(file).ino).toBe(inode);
    expect(JSON.parse(fs.readFileSync(file, "utf8"))).toEqual({ resources: ["a"] });
    writer.write(JSON.stringify({ resources: ["a", "b", "c", "d"] }));
    expect(JSON.parse(fs.readFileSync(file, "utf8"))).toEqual({ resources: ["a", "b", "c", "d"] });
    writer.close();
  });

  it("refuses a file that is there already", () => {
    const file = newFile();
    fs.writeFileSync(file, "{}");
    expect(() => StateFileWriter.create(file, "{}")).toThrow(/EEXIST/);
  });

  it("writes a text longer than a page beside the file and renames it over, from then on", () => {
    const file = newFile();
    const writer = StateFileWriter.create(file, "{}");
    const inode = fs.statSync(file).ino;
    const long = { resources: Array.from({ length: 300 }, (_, i) => `resource-${i}`) };
    writer.write(JSON.stringify(long));
    expect(fs.statSync(file).ino).not.toBe(inode);
    expect(fs.existsSync(`${file}.tmp`)).toBe(false);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(readStateFile(file)).toEqual(long);
    writer.write(JSON.stringify({ resources: [] }));
    expect(readStateFile(file)).toEqual({ resources: [] });
    writer.close();
  });
});

describe("readStateFile", () => {
  it("is undefined for a missing file and for one that is not JSON", () => {
    const file = newFile();
    expect(readStateFile(file)).toBeUndefined();
    fs.writeFileSync(file, '{"resources": [');
    expect(readStateFile(file)).toBeUndefined();
  });
});
