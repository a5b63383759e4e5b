import type { HarnessOptions } from "./types.js";
import { validateServiceName } from "./service-options.js";
import { At, boolean, expected, integer, object, optionalString } from "./validate.js";

/** The WireGuard mesh's subnet when `network.wireguardSubnet` does not say: the one definition, for the mesh and for the docker networks that avoid it. */
export const DEFAULT_MESH_SUBNET = "10.42.0.0/16";

const RUN_ID = /^[a-z0-9][a-z0-9-]{0,15}$/;
const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

export function validateHarnessOptions(raw: unknown, locate?: (field: string) => string): Readonly<HarnessOptions> {
  const at = new At(undefined, "", locate);
  const options = object(raw ?? {}, at, ["runId", "stateDir", "network", "faults", "reuse"]);
  const runId = optionalString(options.runId, at.child("runId"));
  if (runId !== undefined && !RUN_ID.test(runId)) {
    expected(at.child("runId"), "1 to 16 lowercase letters, digits or `-`", runId);
  }
  const stateDir = optionalString(options.stateDir, at.child("stateDir"));
  const result: HarnessOptions = {};
  if (runId !== undefined) result.runId = runId;
  if (stateDir !== undefined) result.stateDir = stateDir;
  if (options.reuse !== undefined && boolean(options.reuse, at.child("reuse"), false)) result.reuse = true;
  if (options.network !== undefined) {
    const nat = at.child("network");
    const net = object(options.network, nat, ["wireguardSubnet", "lanInterface", "hubEndpoint", "dns", "dnsPort", "wireguardInterface", "statusPort"]);
    const subnet = optionalString(net.wireguardSubnet, nat.child("wireguardSubnet"));
    if (subnet !== undefined && !isCidr(subnet)) expected(nat.child("wireguardSubnet"), `an IPv4 subnet such as "${DEFAULT_MESH_SUBNET}"`, subnet);
    const lanInterface = optionalString(net.lanInterface, nat.child("lanInterface"));
    const hubEndpoint = optionalString(net.hubEndpoint, nat.child("hubEndpoint"));
    if (hubEndpoint !== undefined && !/^[^\s:]+:\d{1,5}$/.test(hubEndpoint)) {
      expected(nat.child("hubEndpoint"), 'a "host:port" endpoint', hubEndpoint);
    }
    const wireguardInterface = optionalString(net.wireguardInterface, nat.child("wireguardInterface"));
    if (wireguardInterface !== undefined && !/^[A-Za-z0-9_.-]{1,15}$/.test(wireguardInterface)) {
      expected(nat.child("wireguardInterface"), "an interface name of 1 to 15 letters, digits, `-`, `_` or `.`", wireguardInterface);
    }
    const dnsPort = net.dnsPort === undefined ? undefined : integer(net.dnsPort, nat.child("dnsPort"), 1, 65535);
    if (net.dns !== undefined && typeof net.dns !== "boolean") expected(nat.child("dns"), "true or false", net.dns);
    const statusPort = net.statusPort === undefined ? undefined : integer(net.statusPort, nat.child("statusPort"), 0, 65535);
    result.network = Object.freeze({
      ...(subnet !== undefined && { wireguardSubnet: subnet }),
      ...(lanInterface !== undefined && { lanInterface }),
      ...(hubEndpoint !== undefined && { hubEndpoint }),
      ...(net.dns === true && { dns: true }),
      ...(dnsPort !== undefined && { dnsPort }),
      ...(wireguardInterface !== undefined && { wireguardInterface }),
      ...(statusPort !== undefined && { statusPort }),
    });
  }
  if (options.faults !== undefined) result.faults = validateFaults(options.faults, at.child("faults"));
  return Object.freeze(result);
}

/** `faults: { edges: [["api", "db"]] }`: pairs of two service names (that they exist is checked by the plan). */
function validateFaults(raw: unknown, at: At): NonNullable<HarnessOptions["faults"]> {
  const faults = object(raw, at, ["edges"]);
  if (faults.edges === undefined) return Object.freeze({});
  const edgesAt = at.child("edges");
  if (!Array.isArray(faults.edges)) expected(edgesAt, 'a list of [caller, target] pairs, such as [["api", "db"]]', faults.edges);
  const edges = faults.edges.map((edge: unknown, i) => {
    const here = edgesAt.child(i);
    if (!Array.isArray(edge) || edge.length !== 2) expected(here, 'a [caller, target] pair of service names, such as ["api", "db"]', edge);
    const [caller, target] = [validateServiceName(edge[0], here.child(0)), validateServiceName(edge[1], here.child(1))];
    if (caller === target) expected(here, "two different services (a service's calls to itself go through no proxy)", edge);
    return Object.freeze([caller, target] as const);
  });
  return Object.freeze({ edges: Object.freeze(edges) });
}

function isCidr(text: string): boolean {
  const m = CIDR.exec(text);
  if (!m) return false;
  const octets = m.slice(1, 5).map(Number);
  return octets.every((o) => o <= 255) && Number(m[5]) <= 32;
}
