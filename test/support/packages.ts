import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { REPO } from "./process-tracker.js";

/** The files of a package directory, as text; scripts get mode 0755 from `pack`. */
export type PackageFiles = Record<string, string>;

/**
 * A small but complete package (ADR-007 §4): an HTTP service (the examples' server), started
 * in the background by start.sh (which records its pid), stopped by stop.sh, and checked by
 * health.sh, which also counts its own runs in `health-checks` so that a test can see it was used.
 */
export function greeterPackage(overrides: PackageFiles = {}): PackageFiles {
  return {
    "manifest.yaml": ["name: greeter", "version: 1.2.3", "port: 8470", "system_requires:", "  - /bin/sh", "  - node", ""].join("\n"),
    "bin/service": `#!/bin/sh\nexec node "$(dirname "$0")/server.mjs"\n`,
    "bin/server.mjs": fs.readFileSync(path.join(REPO, "examples", "shared", "server.mjs"), "utf8"),
    "config/greeting.txt": "hello\n",
    "scripts/start.sh": [
      "#!/bin/sh",
      "# Called as: start.sh <working_dir> <env_file>",
      'WORK_DIR="$1"',
      'ENV_FILE="$2"',
      '. "$ENV_FILE"',
      'cd "$WORK_DIR"',
      "LISTEN_DELAY_MS=500 ./bin/service > logs/service.log 2>&1 &",
      "echo $! > service.pid",
      'echo "started greeter as $(cat service.pid)"',
      "",
    ].join("\n"),
    "scripts/stop.sh": ["#!/bin/sh", 'cd "$1"', '[ -f service.pid ] && kill "$(cat service.pid)"', ""].join("\n"),
    "scripts/health.sh": [
      "#!/bin/sh",
      'echo checked >> "$1/health-checks"',
      `node -e 'fetch("http://127.0.0.1:" + process.env.PORT + "/health").then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))'`,
      "",
    ].join("\n"),
    ...overrides,
  };
}

/** Writes a package directory under a new temp dir; resolves its path. */
export function writePackageDir(files: PackageFiles, parent = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-pkg-"))): string {
  const dir = path.join(parent, "package");
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content, { mode: 0o644 });
  }
  return dir;
}
