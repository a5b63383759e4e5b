import { createHash } from "node:crypto";
import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type Docker from "dockerode";
import { HarnessError, StartError } from "../../errors.js";
import { type HostRoute, hostRoutes } from "../../host/routes.js";
import type { RunState } from "../../state/run-state.js";
import { engineMessage, statusOf } from "./engine.js";
import { type Cidr, chooseSubnet, formatCidr, gatewayOf, hostAddress, parseCidr } from "./subnets.js";

/** The run's own bridge network, decided in the plan and created in `prepare`. */
export interface PlannedNetwork {
  readonly name: string;
  readonly subnet: Cidr;
  readonly gateway: string;
  /** Service name → its fixed address on the network. */
  readonly ips: Readonly<Record<string, string>>;
}

export const RUN_LABEL = "meshbed.run";
export const SERVICE_LABEL = "meshbed.service";

/**
 * Chooses the run network's subnet so that it overlaps none of the host's routes, none of the
 * engine's networks, the resolvers of /etc/resolv.conf and the mesh's subnet; gives each service an
 * address on it. Reads only. `routes` may be read ahead (`hostRoutes()`), while the engine is pinged.
 */
export async function planNetwork(
  docker: Docker,
  runId: string,
  services: readonly string[],
  avoid: readonly string[],
  routes: Promise<readonly HostRoute[]> = hostRoutes(),
): Promise<PlannedNetwork> {
  const [networks, hostNets] = await Promise.all([engineSubnets(docker), routes]);
  const all = [...hostNets.map((r) => r.cidr), ...networks];
  const extra = [...avoid, ...nameservers()].map((s) => parseCidr(s)).filter((c): c is Cidr => c !== undefined);
  const subnet = chooseSubnet([...all, ...extra], services.length, seededRandom(runId));
  if (!subnet) {
    throw new StartError(
      `No free subnet for the docker network of run ${runId}: every candidate overlaps a route of this host or a docker network; remove unused docker networks (\`docker network prune\`)`,
      { code: "E_DOCKER_NETWORK", service: services[0] },
    );
  }
  return {
    name: `mb-${runId}`,
    subnet,
    gateway: gatewayOf(subnet),
    ips: Object.fromEntries(services.map((name, i) => [name, hostAddress(subnet, i)])),
  };
}

/** Creates the network (labelled with the run) and records it for the reaper. */
export async function createNetwork(docker: Docker, planned: PlannedNetwork, runId: string, state: RunState | undefined): Promise<string> {
  try {
    const network = await docker.createNetwork({
      Name: planned.name,
      Driver: "bridge",
      CheckDuplicate: true,
      IPAM: { Driver: "default", Config: [{ Subnet: formatCidr(planned.subnet), Gateway: planned.gateway }] },
      Labels: { [RUN_LABEL]: runId },
    });
    state?.record({ kind: "docker-network", id: network.id, name: planned.name });
    return network.id;
  } catch (error) {
    const why = engineMessage(error);
    const hint = /overlap/i.test(why)
      ? "another network took it after the plan was made: start again"
      : statusOf(error) === 409
        ? `a network of that name exists: remove it (\`docker network rm ${planned.name}\`) if no run uses it`
        : "see the engine's message";
    throw new StartError(`Could not create the docker network ${planned.name} (${formatCidr(planned.subnet)}): ${why}; ${hint}`, {
      code: "E_DOCKER_NETWORK",
      cause: error,
    });
  }
}

/** Removes the network; a network already gone is fine. */
export async function removeNetwork(docker: Docker, id: string): Promise<void> {
  const deadline = Date.now() + ENDPOINTS_WAIT_MS;
  for (;;) {
    try {
      await docker.getNetwork(id).remove();
      return;
    } catch (error) {
      if (statusOf(error) === 404) return;
      // A container's removal the engine is still finishing holds its endpoint a moment longer.
      if (!/active endpoints/i.test(engineMessage(error))) throw error;
      if (Date.now() >= deadline) throw await staleEndpoints(docker, id, error);
      await sleep(50);
    }
  }
}

/**
 * A network with no container that still "has active endpoints": Docker's own count of them went
 * wrong (seen with Docker 20.10 after 50 containers of a run were removed at once; moby/moby#42119),
 * and only a restart of the engine mends it. Said so, with what to do; else the engine's error.
 */
async function staleEndpoints(docker: Docker, id: string, error: unknown): Promise<unknown> {
  const info = await docker
    .getNetwork(id)
    .inspect()
    .catch(() => undefined);
  if (!info || Object.keys(info.Containers ?? {}).length > 0) return error;
  return new HarnessError(
    `Docker will not remove network ${info.Name}: it says the network has active endpoints, but no container is on it — the engine's count of its endpoints is wrong (a Docker bug, moby/moby#42119). Restart the engine (\`sudo systemctl restart docker\`, or end and start dockerd), then run \`meshbed cleanup\``,
    { code: "E_CLEANUP_FAILED", cause: error },
  );
}

/** How long a network whose containers are gone, or going, may still report their endpoints. */
const ENDPOINTS_WAIT_MS = 5_000;

/**
 * The same run id starts its search at the same place: a dry run (`plan()`) with a given `runId`
 * shows the addresses the real start will use, while different runs spread over the pool.
 */
function seededRandom(runId: string): () => number {
  const hash = createHash("sha256").update(runId).digest();
  return () => hash.readUInt32BE(0) / 2 ** 32;
}

async function engineSubnets(docker: Docker): Promise<Cidr[]> {
  const networks = await docker.listNetworks();
  return networks.flatMap((n) => (n.IPAM?.Config ?? []).map((c) => (c.Subnet ? parseCidr(c.Subnet) : undefined))).filter((c): c is Cidr => c !== undefined);
}

/** A subnet covering the resolver would send the host's DNS into the bridge. */
function nameservers(): string[] {
  try {
    const text = fs.readFileSync("/etc/resolv.conf", "utf8");
    return [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1]!);
  } catch {
    return [];
  }
}
