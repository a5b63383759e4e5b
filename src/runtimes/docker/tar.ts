import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";

/** One file of an archive built in memory. */
export interface TarFile {
  /** Path inside the archive, without a leading "/". */
  name: string;
  content: Buffer;
  mode: number;
  uid?: number;
  gid?: number;
}

/** An archive of a few small files (container files, env files), in memory. */
export async function tarFiles(files: readonly TarFile[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    pack.on("data", (chunk: unknown) => {
      chunks.push(chunk as Buffer);
    });
    pack.on("end", () => resolve(Buffer.concat(chunks)));
    pack.on("error", reject);
  });
  for (const file of files) {
    pack.entry({ name: file.name, mode: file.mode, uid: file.uid ?? 0, gid: file.gid ?? 0, mtime: new Date() }, file.content);
  }
  pack.finalize();
  return done;
}

/**
 * A build context as a tar stream, read lazily from `dir`: regular files, directories and symlinks,
 * with their modes. Written while the engine reads it, so a large context is never held in memory.
 */
export function tarDirectory(dir: string): NodeJS.ReadableStream {
  const pack = tar.pack();
  void (async () => {
    for await (const [name, stat] of walk(dir, "")) {
      const full = path.join(dir, name);
      const header = { name, mode: stat.mode & 0o7777, mtime: stat.mtime, uid: 0, gid: 0 };
      if (stat.isDirectory()) {
        pack.entry({ ...header, type: "directory" });
      } else if (stat.isSymbolicLink()) {
        pack.entry({ ...header, type: "symlink", linkname: await fs.promises.readlink(full) });
      } else if (stat.isFile()) {
        const entry = pack.entry({ ...header, type: "file", size: stat.size });
        await pipeline(fs.createReadStream(full), entry);
      }
      // Sockets, fifos and devices have no place in an image.
    }
    pack.finalize();
  })().catch((error: Error) => pack.destroy(error));
  return pack as unknown as NodeJS.ReadableStream;
}

async function* walk(root: string, prefix: string): AsyncGenerator<[string, fs.Stats]> {
  const entries = await fs.promises.readdir(path.join(root, prefix));
  entries.sort();
  for (const entry of entries) {
    const name = prefix ? `${prefix}/${entry}` : entry;
    const stat = await fs.promises.lstat(path.join(root, name));
    yield [name, stat];
    if (stat.isDirectory()) yield* walk(root, name);
  }
}
