/**
 * The run's names (README "Names (DNS)"): which address each name answers, for whom. Pure: made from
 * the address table the env is made from (each asker's `*_HOST`/`*_PORT`), never a second computation.
 */
import { ConfigError } from "../errors.js";
import type { ServiceSpec } from "../topology/types.js";
import { type Endpoint, type HostAddresses, type Placement, hostAs } from "./addresses.js";

/** A name's answer: the address (A) and, when the target has one, the port (SRV). */
export interface NameRecord {
  readonly host: string;
  readonly port: number | undefined;
}

/** The facts the names need: the server's port and the run's loopback /24 ("127.a.b"). */
export interface DnsFacts {
  readonly port: number;
  readonly loopbackPrefix: string;
}

export interface DnsNames {
  readonly port: number;
  /** `<runId>.meshbed`: every service answers as `<service>` and `<service>.<domain>`. */
  readonly domain: string;
  /** Where the server listens: the address each kind of caller reaches it at, and the host's own loopback. */
  readonly listen: readonly string[];
  /** The loopback address of the harness host's own view (`meshbed dig` without `--as`, a test's client). */
  readonly hostAddress: string;
  /** Each service's server address, as it reaches it (its `HARNESS_DNS` without the port). */
  readonly serverOf: Readonly<Record<string, string>>;
  /** The address a service's queries come from (a process's: the loopback it asks, one per view) → that service (the first one at an address). */
  readonly askers: Readonly<Record<string, string>>;
  /** Each service's names: target service → its record as that service reaches it. */
  readonly views: Readonly<Record<string, Readonly<Record<string, NameRecord>>>>;
  /** The harness host's own view (any other loopback source): what the harness host reaches. */
  readonly hostView: Readonly<Record<string, NameRecord>>;
}

/** RFC 1035's label: letters, digits and `-`, not at either end, at most 63. */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/** Every service name is a DNS label, or the run cannot answer it. */
export function checkNameLabels(services: readonly ServiceSpec[]): void {
  for (const service of services) {
    if (LABEL.test(service.name)) continue;
    throw new ConfigError(
      `Service "${service.name}" cannot be found by name: "${service.name}" is not a DNS label (letters, digits and \`-\`, not first or last, at most 63 characters); rename it, or leave \`network.dns\` off`,
      { code: "E_CONFIG", service: service.name },
    );
  }
}

/**
 * The server's address as each service reaches it: the host's address for it; for processes a
 * loopback address per view (127.a.b.1, .2…). A process's queries all come from 127.0.0.1, so the
 * address it asks is what tells its view: processes that see every target alike (no fault edge of
 * their own) share one, and so one resolv.conf and one mount namespace (process-runtime.ts).
 */
export function dnsServers(
  services: readonly ServiceSpec[],
  placements: ReadonlyMap<string, Placement>,
  host: HostAddresses,
  facts: DnsFacts,
  endpoints: ReadonlyMap<string, ReadonlyMap<string, Endpoint>>,
): Record<string, string> {
  const servers: Record<string, string> = {};
  const byView = new Map<string, string>();
  for (const service of services) {
    const placement = placements.get(service.name)!;
    let ip: string | undefined;
    if (placement.location === "host") {
      const view = JSON.stringify(Object.entries(recordsOf(endpoints.get(service.name))).sort(([a], [b]) => (a < b ? -1 : 1)));
      ip = byView.get(view) ?? `${facts.loopbackPrefix}.${byView.size + 1}`;
      byView.set(view, ip);
    } else {
      ip = hostAs(placement, host);
    }
    if (ip !== undefined) servers[service.name] = ip;
  }
  return servers;
}

/**
 * The names of the run. `endpoints` is the address table as the env got it: caller → target → the
 * endpoint of its `*_HOST`/`*_PORT` (a fault proxy's when the edge has one); `fromHost` the harness host's.
 */
export function dnsNames(input: {
  runId: string;
  facts: DnsFacts;
  placements: ReadonlyMap<string, Placement>;
  servers: Readonly<Record<string, string>>;
  endpoints: ReadonlyMap<string, ReadonlyMap<string, Endpoint>>;
  fromHost: ReadonlyMap<string, Endpoint>;
}): DnsNames {
  const askers: Record<string, string> = {};
  const views: Record<string, Record<string, NameRecord>> = {};
  for (const [name, placement] of input.placements) {
    const from =
      placement.location === "host" ? input.servers[name] : placement.location === "container" ? placement.containerIp : placement.location === "lan" ? placement.lanIp : placement.meshIp;
    if (from !== undefined && askers[from] === undefined) askers[from] = name;
    views[name] = Object.freeze(recordsOf(input.endpoints.get(name)));
  }
  const hostAddress = `${input.facts.loopbackPrefix}.254`;
  return Object.freeze({
    port: input.facts.port,
    domain: `${input.runId}.meshbed`,
    listen: Object.freeze([...new Set([...Object.values(input.servers), hostAddress])]),
    hostAddress,
    serverOf: Object.freeze({ ...input.servers }),
    askers: Object.freeze(askers),
    views: Object.freeze(views),
    hostView: Object.freeze(recordsOf(input.fromHost)),
  });
}

function recordsOf(endpoints: ReadonlyMap<string, Endpoint> | undefined): Record<string, NameRecord> {
  const records: Record<string, NameRecord> = {};
  for (const [target, e] of endpoints ?? []) records[target.toLowerCase()] = Object.freeze({ host: e.host, port: e.port });
  return records;
}

/**
 * The view a query gets, by the address it came from, and for loopback by the address it came to
 * (the kernel gives a loopback query the source 127.0.0.1, whichever 127.a.b.c it asks): its
 * service's; the host's for any other loopback query; none for a stranger.
 */
export function viewOf(names: DnsNames, source: string, local?: string): Readonly<Record<string, NameRecord>> | undefined {
  if (source.startsWith("127.")) {
    const process = local === undefined ? undefined : names.askers[local];
    return process === undefined ? names.hostView : names.views[process];
  }
  const service = names.askers[source];
  return service === undefined ? undefined : names.views[service];
}

/** What a query's name is: a service of the run (with the SRV form's service), a name of the run's domain that is none, or another name. */
export function nameOf(names: DnsNames, qname: string): { service: string; srv: boolean } | "unknown-in-domain" | undefined {
  let name = qname.toLowerCase().replace(/\.$/, "");
  const suffix = `.${names.domain}`;
  const inDomain = name.endsWith(suffix) || name === names.domain;
  if (name.endsWith(suffix)) name = name.slice(0, -suffix.length);
  const srv = /^_[^.]+\._tcp\.([^.]+)$/.exec(name);
  const service = srv ? srv[1]! : name;
  if (names.hostView[service] !== undefined || Object.values(names.views).some((v) => v[service] !== undefined)) return { service, srv: srv !== null };
  return inDomain ? "unknown-in-domain" : undefined;
}

/** Where a service's queries come from, and the server address they go to: what the server tells it by. */
export function askerOf(names: DnsNames, service: string): { source: string; local: string | undefined } | undefined {
  const local = names.serverOf[service];
  // A process asks its view's loopback address (shared by the processes of that view), from 127.0.0.1.
  if (local?.startsWith("127.") && names.askers[local] !== undefined) return { source: "127.0.0.1", local };
  const at = Object.entries(names.askers).find(([, s]) => s === service)?.[0];
  return at === undefined ? undefined : { source: at, local };
}

/** One line per service: what each name answers it (`meshbed plan`). */
export function describeNames(names: DnsNames): string[] {
  const lines = [`Names (DNS): <service> and <service>.${names.domain}, SRV _<name>._tcp.<service>; server on port ${names.port}`];
  const show = (view: Readonly<Record<string, NameRecord>>) =>
    Object.entries(view)
      .map(([name, r]) => `${name} → ${r.host}${r.port === undefined ? "" : ` (SRV ${r.port})`}`)
      .join(", ") || "no names";
  for (const [service, view] of Object.entries(names.views)) {
    lines.push(`  for ${service.padEnd(18)} (asks ${names.serverOf[service] ?? "no server"}): ${show(view)}`);
  }
  lines.push(`  for ${"this host".padEnd(18)} (asks ${names.hostAddress}): ${show(names.hostView)}`);
  return lines;
}
