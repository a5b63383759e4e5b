// The build context of the examples' container: ./cache-image plus Debian's static busybox
// (`apt-get install busybox-static`), copied into a temp dir because a binary is not kept in git.
// No registry is needed: the image is built FROM scratch.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const source = fileURLToPath(new URL("./cache-image", import.meta.url));

/** Makes the build context; call the returned function to remove it once the image is built. */
export function cacheImageContext(busybox = "/bin/busybox") {
  if (!fs.existsSync(busybox)) throw new Error(`${busybox} is missing: apt-get install busybox-static`);
  const context = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-example-image-"));
  fs.cpSync(source, context, { recursive: true });
  fs.copyFileSync(busybox, path.join(context, "busybox"));
  fs.chmodSync(path.join(context, "busybox"), 0o755);
  return { context, remove: () => fs.rmSync(context, { recursive: true, force: true }) };
}
