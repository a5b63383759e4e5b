import fs from "node:fs";

/**
 * How much of a state file is rewritten in place. A write of one page at offset 0 is done whole or
 * not at all when its process dies (the kernel checks for a fatal signal between pages, not within
 * one), so a crash never leaves half of it. Beyond one page, the file is written beside and renamed.
 */
const IN_PLACE_MAX = 4096;

/**
 * A run's `state.json`, kept open for the run's life and rewritten in place: one `pwrite` a save,
 * where a new file and a rename over the old cost a create and a free of an inode each time
 * (0.2–0.45 ms on ext4, a fifth of a process's start). A shorter text is padded with spaces to the
 * length it had (JSON allows them), so that no tail of an earlier one is ever left after it.
 */
export class StateFileWriter {
  #fd: number | undefined;
  #length = 0;

  private constructor(readonly file: string) {}

  /** Creates the file (0600; refused if it is there already) and writes `text` in it. */
  static create(file: string, text: string): StateFileWriter {
    const writer = new StateFileWriter(file);
    writer.#fd = fs.openSync(file, "wx", 0o600);
    writer.write(text);
    return writer;
  }

  write(text: string): void {
    const bytes = Buffer.byteLength(text);
    if (this.#fd !== undefined && bytes <= IN_PLACE_MAX) {
      const padded = bytes < this.#length ? text + " ".repeat(this.#length - bytes) : text;
      fs.writeSync(this.#fd, padded, 0, "utf8");
      this.#length = Math.max(this.#length, bytes);
      return;
    }
    // Too long for one page: written whole beside it and renamed over it, from now on (the open
    // file is the replaced one).
    this.close();
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, text, { mode: 0o600 });
    fs.renameSync(tmp, this.file);
  }

  close(): void {
    if (this.#fd === undefined) return;
    fs.closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/**
 * A state file, parsed; `undefined` if it is not there or not JSON. Read again when caught halfway
 * through its owner's rewrite in place (a reader may see part of a page being copied).
 */
export function readStateFile<T>(file: string): T | undefined {
  for (let attempt = 0; ; attempt++) {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      return undefined;
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      if (attempt === 3) return undefined;
    }
  }
}
