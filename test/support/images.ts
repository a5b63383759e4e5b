import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { buildImage, findImage } from "../../src/runtimes/docker/images.js";
import { prerequisite } from "./prerequisites.js";

/**
 * Test images, built here because no registry is reachable: `FROM scratch` with Debian's static
 * busybox, so that containers can run `sh`, `httpd`, `wget` and `nc`. Built once per engine and
 * kept (found by its tag, labelled `meshbed.test=busybox`), so later runs start at once; the tag is
 * a hash of what goes in, so a change here builds a new one.
 */
export const TEST_IMAGE_LABEL = "meshbed.test";

const BUSYBOX = "/bin/busybox";

/**
 * The image's default command: serves /www on $PORT with busybox httpd, where
 * - /health answers "ok", /whoami the service's name ($HARNESS_SERVICE);
 * - /cgi-bin/call?VAR calls http://$VAR/whoami with only what was injected, and answers with it
 *   (the busybox twin of test/fixtures/http-server.mjs's /call/<VAR>).
 */
const SERVE = `#!/bin/sh
mkdir -p /www
echo ok > /www/health
echo "\${HARNESS_SERVICE:-unknown}" > /www/whoami
echo "\${HARNESS_SERVICE:-unknown} listening on \${PORT:-80}"
httpd -f -v -p "\${PORT:-80}" -h /www &
# PID 1 has no default action for SIGTERM: without this trap \`docker stop\` waits its whole grace.
trap 'kill $! 2>/dev/null; exit 0' TERM INT
wait
`;

const CALL = `#!/bin/sh
eval "addr=\\$$QUERY_STRING"
printf 'Content-Type: text/plain\\r\\n\\r\\n'
printf '%s -> ' "$addr"
# busybox 1.35's \`wget -T\` crashes: bound the call with \`timeout\` instead.
timeout 5 wget -q -O - "http://$addr/whoami" 2>&1 || echo "failed"
`;

const DOCKERFILE = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY serve /bin/serve
COPY call /www/cgi-bin/call
RUN mkdir -p /tmp /etc && chmod 1777 /tmp && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd
LABEL ${TEST_IMAGE_LABEL}=busybox
CMD ["/bin/serve"]
`;

export const BUSYBOX_IMAGE = `meshbed-test/busybox:${createHash("sha256")
  .update(DOCKERFILE + SERVE + CALL + (fs.existsSync(BUSYBOX) ? fs.statSync(BUSYBOX).size : 0))
  .digest("hex")
  .slice(0, 12)}`;

let engine: Docker | undefined;
let building: Promise<string> | undefined;

/** A client of the engine the tests use (DOCKER_HOST or the default socket). */
export function testDocker(): Docker {
  engine ??= new Docker();
  return engine;
}

/** Whether an engine answers; false (skip) locally, a failure under MESHBED_REQUIRE_ALL=1. */
export async function dockerAvailable(): Promise<boolean> {
  const answers = await testDocker()
    .ping()
    .then(
      () => true,
      () => false,
    );
  return (
    prerequisite("a Docker engine", answers, "Run `bash scripts/system/docker.sh` (as root) to install and start dockerd") &&
    prerequisite("busybox-static", fs.existsSync(BUSYBOX), "apt-get install busybox-static (scripts/system/docker.sh does)")
  );
}

/** The busybox test image's tag; builds it the first time. */
export function busyboxImage(): Promise<string> {
  building ??= (async () => {
    const docker = testDocker();
    if (await findImage(docker, BUSYBOX_IMAGE)) return BUSYBOX_IMAGE;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-busybox-"));
    try {
      fs.copyFileSync(BUSYBOX, path.join(dir, "busybox"));
      fs.chmodSync(path.join(dir, "busybox"), 0o755);
      fs.writeFileSync(path.join(dir, "serve"), SERVE, { mode: 0o755 });
      fs.writeFileSync(path.join(dir, "call"), CALL, { mode: 0o755 });
      fs.writeFileSync(path.join(dir, "Dockerfile"), DOCKERFILE);
      await buildImage(docker, { context: dir, dockerfile: "Dockerfile", tag: BUSYBOX_IMAGE, labels: { [TEST_IMAGE_LABEL]: "busybox" } }, "test-image", AbortSignal.timeout(120_000));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    return BUSYBOX_IMAGE;
  })();
  return building;
}

/** Containers and networks (by label `meshbed.run=<runId>`) and their names: what a run left behind. */
export async function leftovers(runId: string): Promise<string[]> {
  const docker = testDocker();
  const filters = { label: [`meshbed.run=${runId}`] };
  const [containers, networks, images] = await Promise.all([docker.listContainers({ all: true, filters }), docker.listNetworks({ filters }), docker.listImages({ filters })]);
  return [...containers.map((c) => `container ${c.Names[0]}`), ...networks.map((n) => `network ${n.Name}`), ...images.map((i) => `image ${i.RepoTags?.[0] ?? i.Id}`)];
}

/** A run id of its own for each test, so that what it leaves behind can be found by label. */
export function testRunId(prefix = "dk"): string {
  return `${prefix}${Math.random().toString(36).slice(2, 8)}`;
}
