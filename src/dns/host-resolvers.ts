import fs from "node:fs";

/**
 * The host's resolvers: the `nameserver` lines of its /etc/resolv.conf, but the run's own addresses
 * (a forward to itself would loop). Empty when the file has none (an offline host).
 */
export function hostResolvers(own: readonly string[], file = "/etc/resolv.conf"): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .map((line) => /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(line)?.[1])
    .filter((ip): ip is string => ip !== undefined && !own.includes(ip));
}

/** A resolv.conf that points a resolver at the run's server (port 53: glibc's resolv.conf has no port). */
export function resolvConf(server: string, domain: string): string {
  return `# meshbed: the run's DNS server (network.dns)\nnameserver ${server}\nsearch ${domain}\noptions ndots:1 timeout:2 attempts:2\n`;
}
