import fs from "node:fs";
import path from "node:path";
import type { SFTPWrapper } from "ssh2";

/** An sftp call as a promise. */
export function call(start: (callback: (error?: Error | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => start((error) => (error ? reject(error) : resolve())));
}

/** Copies a local file or directory (recursively, with modes; symlinks as symlinks) to `remote`. */
export async function uploadPath(sftp: SFTPWrapper, local: string, remote: string): Promise<void> {
  const stat = await fs.promises.lstat(local);
  if (stat.isDirectory()) await uploadDirectory(sftp, local, remote);
  else await call((cb) => sftp.fastPut(local, remote, { mode: stat.mode & 0o7777 }, cb));
}

async function uploadDirectory(sftp: SFTPWrapper, local: string, remote: string): Promise<void> {
  const stat = await fs.promises.stat(local);
  try {
    await call((cb) => sftp.mkdir(remote, { mode: stat.mode & 0o7777 }, cb));
  } catch (error) {
    // A directory that is there already is fine; anything else is not.
    const exists = await new Promise<boolean>((resolve) => sftp.stat(remote, (e, s) => resolve(!e && s.isDirectory())));
    if (!exists) throw error;
  }
  for (const entry of await fs.promises.readdir(local, { withFileTypes: true })) {
    const from = path.join(local, entry.name);
    const to = path.posix.join(remote, entry.name);
    if (entry.isDirectory()) await uploadDirectory(sftp, from, to);
    else if (entry.isSymbolicLink()) await call((cb) => sftp.symlink(fs.readlinkSync(from), to, cb));
    else if (entry.isFile()) await call((cb) => sftp.fastPut(from, to, { mode: fs.statSync(from).mode & 0o7777 }, cb));
  }
}
