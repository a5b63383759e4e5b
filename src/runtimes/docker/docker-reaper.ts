import { debugFor } from "../../debug.js";
import { hostCommandNow } from "../../host/host-command.js";
import type { FamilyReaper } from "../../state/reap.js";
import type { Resource } from "../../state/run-state.js";
import { connectEngine } from "./engine.js";
import { removeImage } from "./images.js";
import { removeContainer } from "./remove-container.js";
import { RUN_LABEL, removeNetwork } from "./run-network.js";

const log = debugFor("docker");

/** A run's containers, networks and images (`docker-*` resources). */
export const dockerReaper: FamilyReaper = {
  reap: (run) => reapDockerRun(run.runId),
  killNow: (resources) => removeDockerNow(resources),
};

/**
 * Removes everything a crashed run left in Docker, found by its label rather than by the state
 * file, so that a container or network made just before the crash is found too.
 */
export async function reapDockerRun(runId: string): Promise<void> {
  const { docker } = await connectEngine([]);
  const filters = { label: [`${RUN_LABEL}=${runId}`] };
  for (const info of await docker.listContainers({ all: true, filters })) {
    // The killed harness's own removal may still be going on in the engine: waited for, not a failure.
    await removeContainer(docker.getContainer(info.Id));
  }
  for (const network of await docker.listNetworks({ filters })) await removeNetwork(docker, network.Id);
  for (const image of await docker.listImages({ filters })) {
    for (const tag of image.RepoTags ?? [image.Id]) await removeImage(docker, tag);
  }
}

/**
 * The synchronous last resort, for the `exit` event of a harness process that was not stopped:
 * the Docker CLI removes the run's containers and network. Without a CLI, the reaper does it later.
 */
export function removeDockerNow(resources: readonly Resource[]): void {
  log(`exit: removing ${resources.filter((r) => r.kind.startsWith("docker-")).length} docker resource(s) at once`);
  const containers = resources.filter((r) => r.kind === "docker-container").map((r) => r.id);
  const networks = resources.filter((r) => r.kind === "docker-network").map((r) => r.id);
  // Blocking is what the exit event allows; a loaded engine may take a while, the reaper is next.
  const run = (args: string[]) => hostCommandNow("docker", args, { timeoutMs: 30_000 });
  if (containers.length > 0) run(["rm", "--force", "--volumes", ...containers]);
  if (networks.length > 0) run(["network", "rm", ...networks]);
}
