import fs from "node:fs";
import path from "node:path";
import { StartError } from "../errors.js";

const CAP_NET_ADMIN = 12;

/** Whether this process may create interfaces and change routes (CAP_NET_ADMIN in its effective set). */
export function hasNetAdmin(status = readStatus()): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (hex === undefined) return process.getuid?.() === 0;
  return (BigInt(`0x${hex}`) & (1n << BigInt(CAP_NET_ADMIN))) !== 0n;
}

function readStatus(): string {
  try {
    return fs.readFileSync("/proc/self/status", "utf8");
  } catch {
    return "";
  }
}

/** Fails before anything starts when the harness host cannot be the mesh's hub. */
export function checkHubPrivilege(ifname: string, service?: string): void {
  if (process.platform !== "linux") {
    throw new StartError("The WireGuard mesh's hub needs Linux (a `wireguard` service makes the harness host its hub)", { code: "E_MESH_PRIVILEGE", service });
  }
  if (!hasNetAdmin()) {
    throw new StartError(
      `The WireGuard mesh needs CAP_NET_ADMIN on the harness host, to create its hub interface ${ifname}: ` +
        `run the harness as root (sudo), or give node the capability (\`sudo setcap cap_net_admin+ep "$(readlink -f "$(command -v node)")"\`), ` +
        "or in a container add `--cap-add NET_ADMIN --device /dev/net/tun`",
      { code: "E_MESH_PRIVILEGE", service },
    );
  }
}

/** How the hub makes its interface: the kernel module where present, else wireguard-go. */
export function hubImplementation(): "kernel" | "wireguard-go" | undefined {
  if (fs.existsSync("/sys/module/wireguard")) return "kernel";
  return onPath("wireguard-go") ? "wireguard-go" : undefined;
}

export function onPath(command: string): boolean {
  return (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":").some((dir) => dir && fs.existsSync(path.join(dir, command)));
}
