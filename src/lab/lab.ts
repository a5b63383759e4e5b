import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { debugFor } from "../debug.js";
import { HarnessError } from "../errors.js";
import { hostRoutes, registerRoutedPool } from "../host/routes.js";
import { type CommandResult, mustRun, runCommand } from "./lab-command.js";
import { inNamespace, ipIn, killNamespace, killQuietly, namespaceExists, namespacePids } from "./lab-namespaces.js";
import { type Account, createAccount, deleteAccount, generateKey, lookupAccount, startSshd } from "./lab-node.js";
import { INFRA, type LabNode, type LabNodeOptions, type LabOptions, checkHost, validateLabOptions } from "./lab-options.js";
import { LAB_ROOT, type LabNodeRecord, type LabState, listStates, processAlive, readState, saveState, withLabLock } from "./lab-state.js";
import { LAB_POOL, addressIn, chooseLabSubnets, parseCidr, prefixOf } from "./lab-subnets.js";
import { wireNatNode } from "./lab-nat.js";
import { hostDockerSocket, startNodeDockerd, stopNodeDockerd } from "./lab-docker.js";

export type { LabNode, LabNodeOptions, LabOptions } from "./lab-options.js";

const log = debugFor("lab");

// Only the lab's own links lead to its nodes: a reaper skips the address of a node whose lab is gone.
registerRoutedPool(LAB_POOL);

/**
 * Real remote nodes on one Linux machine: each node a network namespace with its own sshd,
 * private /run, /tmp, /opt/harness and home. LAN nodes share a bridge with the harness host; WAN
 * nodes sit behind a router the host reaches by a route, with no path to the LAN. The bridges and
 * the router live in a namespace of their own, out of reach of dockerd's FORWARD policy.
 */
export class Lab {
  readonly #root: string;
  #state: LabState;
  #destroyed: Promise<void> | undefined;

  private constructor(root: string, state: LabState) {
    this.#root = root;
    this.#state = state;
  }

  /** Creates a lab (reaping crashed ones first). Needs root. */
  static async create(options: LabOptions): Promise<Lab> {
    const root = options.root ?? LAB_ROOT;
    validateLabOptions(options);
    await checkHost(options);
    // Written down too: the reaper of a run on this lab's nodes may be a process that never loads the lab.
    registerRoutedPool(LAB_POOL, { persist: true });
    await Lab.reap(root);
    const state = await withLabLock(root, async () => {
      const taken = (await hostRoutes()).map((route) => route.cidr);
      // A lab still being built has no routes yet: its recorded subnets are taken too.
      for (const other of listStates(root)) {
        for (const subnet of Object.values(other.subnets ?? {})) {
          const cidr = parseCidr(subnet);
          if (cidr) taken.push(cidr);
        }
      }
      const subnets = chooseLabSubnets(taken);
      if (!subnets) throw new HarnessError("No free /22 is left in 10.240.0.0/12 for a lab: destroy other labs (`meshbed lab down`)", { code: "E_LAB" });
      const id = options.id ?? newLabId(root);
      if (readState(root, id) || (await namespaceExists(`mb-${id}-${INFRA}`))) {
        throw new HarnessError(`A lab "${id}" exists already: destroy it first (\`meshbed lab down ${id}\`), or choose another id`, { code: "E_LAB" });
      }
      const state: LabState = {
        id,
        pid: process.pid,
        keep: options.keep ?? false,
        createdAt: new Date().toISOString(),
        dir: path.join(root, id),
        subnets,
        namespaces: [],
        links: [],
        users: [],
        dirs: [],
        nodes: [],
      };
      saveState(root, state);
      return state;
    });
    const lab = new Lab(root, state);
    try {
      await lab.#build(options.nodes);
    } catch (error) {
      await lab.destroy().catch(() => {});
      throw error;
    }
    return lab;
  }

  /** An existing lab, by id (for `meshbed lab down`, or another process of a test run). */
  static open(id: string, root = LAB_ROOT): Lab | undefined {
    const state = readState(root, id);
    return state ? new Lab(root, state) : undefined;
  }

  /** Every lab with a state file. */
  static list(root = LAB_ROOT): Lab[] {
    return listStates(root).map((s) => new Lab(root, s));
  }

  /** Destroys every lab whose creator is gone (and that was not created to be kept); returns their ids. */
  static async reap(root = LAB_ROOT): Promise<string[]> {
    const reaped: string[] = [];
    for (const state of listStates(root)) {
      if (state.keep || processAlive(state.pid)) continue;
      await new Lab(root, state).destroy();
      reaped.push(state.id);
    }
    return reaped;
  }

  get id(): string {
    return this.#state.id;
  }

  get subnets(): Readonly<LabState["subnets"]> {
    return this.#state.subnets;
  }

  /** Every node, by name. */
  get nodes(): Readonly<Record<string, LabNode>> {
    return Object.fromEntries(this.#state.nodes.map((n) => [n.name, this.#describe(n)]));
  }

  node(name: string): LabNode {
    const record = this.#state.nodes.find((n) => n.name === name);
    if (!record) throw new HarnessError(`Lab ${this.id} has no node "${name}"; it has ${this.#state.nodes.map((n) => n.name).join(", ")}`, { code: "E_LAB" });
    return this.#describe(record);
  }

  /** Runs a command inside a node (its network and mount namespaces), as root, without SSH. */
  exec(node: string, argv: readonly string[]): Promise<CommandResult> {
    const record = this.#record(node);
    return runCommand("nsenter", ["-t", String(record.sshdPid), "-n", "-m", "--", ...argv]);
  }

  /** How many SSH connections the node's sshd has open now. */
  async sshConnections(node: string): Promise<number> {
    const record = this.#record(node);
    const out = await mustRun("ip", ["netns", "exec", record.namespace, "ss", "-Htn", "state", "established", "( sport = :22 )"]);
    return out.split("\n").filter((l) => l.trim() !== "").length;
  }

  /** Pids of every process in the node's network namespace (its sshd included). */
  async pids(node: string): Promise<number[]> {
    return namespacePids(this.#record(node).namespace);
  }

  /** Removes everything the lab created, by name; runs once. */
  destroy(): Promise<void> {
    this.#destroyed ??= this.#teardown();
    return this.#destroyed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.destroy();
  }

  #record(name: string): LabNodeRecord {
    this.node(name);
    return this.#state.nodes.find((n) => n.name === name)!;
  }

  #describe(n: LabNodeRecord): LabNode {
    const identityFile = path.join(this.#state.dir, "client_key");
    const knownHostsFile = path.join(this.#state.dir, "known_hosts");
    return Object.freeze({
      name: n.name,
      network: n.network,
      ...(n.nat && { nat: n.nat }),
      namespace: n.namespace,
      host: n.ip,
      port: 22,
      user: n.user,
      privateKey: readIfThere(identityFile),
      identityFile,
      knownHostsFile,
      hostKey: readIfThere(path.join(n.dir, "host_key.pub")).trim(),
      hostIp: n.hostIp,
      sshdPid: n.sshdPid,
      sshdLog: path.join(n.dir, "sshd.log"),
      ssh: Object.freeze({ port: 22, identityFile, knownHostsFile, strictHostKeyChecking: "yes" as const }),
      ...(n.dockerdPid !== undefined && { dockerHost: `unix://${hostDockerSocket(n.dir)}`, dockerdPid: n.dockerdPid }),
    });
  }

  #save(): void {
    saveState(this.#root, this.#state);
  }

  /** Records a resource, then creates it: a crash in between leaves a record of nothing, never the reverse. */
  async #create<T>(record: () => void, create: () => Promise<T>): Promise<T> {
    record();
    this.#save();
    return create();
  }

  async #build(nodes: readonly LabNodeOptions[]): Promise<void> {
    const s = this.#state;
    const infra = `mb-${s.id}-${INFRA}`;
    const lanHost = addressIn(s.subnets.lan, 1);
    const transitHost = addressIn(s.subnets.transit, 1);
    const transitRouter = addressIn(s.subnets.transit, 2);
    const wanRouter = addressIn(s.subnets.wan, 1);
    log(`create lab ${s.id}: ${nodes.map((n) => `${n.name}:${n.network}`).join(" ")}; LAN ${s.subnets.lan}, WAN ${s.subnets.wan}`);
    const { publicKey: clientPublic } = await generateKey(path.join(s.dir, "client_key"), `meshbed-lab-${s.id}`);
    fs.writeFileSync(path.join(s.dir, "known_hosts"), "", { mode: 0o600 });

    await this.#create(
      () => s.namespaces.push(infra),
      () => mustRun("ip", ["netns", "add", infra]),
    );
    await ipIn(infra, "link", "set", "lo", "up");
    await mustRun("ip", ["netns", "exec", infra, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    if (nodes.some((n) => n.network === "lan")) {
      const link = `mb-${s.id}-lan`;
      await ipIn(infra, "link", "add", "br-lan", "type", "bridge");
      await ipIn(infra, "link", "set", "br-lan", "up");
      await this.#create(
        () => s.links.push(link),
        () => mustRun("ip", ["link", "add", link, "type", "veth", "peer", "name", "uplink", "netns", infra]),
      );
      await ipIn(infra, "link", "set", "uplink", "master", "br-lan", "up");
      await mustRun("ip", ["addr", "add", `${lanHost}/${prefixOf(s.subnets.lan)}`, "dev", link]);
      await mustRun("ip", ["link", "set", link, "up"]);
    }
    if (nodes.some((n) => n.network === "wan")) {
      const link = `mb-${s.id}-wan`;
      await ipIn(infra, "link", "add", "br-wan", "type", "bridge");
      await ipIn(infra, "addr", "add", `${wanRouter}/${prefixOf(s.subnets.wan)}`, "dev", "br-wan");
      await ipIn(infra, "link", "set", "br-wan", "up");
      await this.#create(
        () => s.links.push(link),
        () => mustRun("ip", ["link", "add", link, "type", "veth", "peer", "name", "transit", "netns", infra]),
      );
      await ipIn(infra, "addr", "add", `${transitRouter}/${prefixOf(s.subnets.transit)}`, "dev", "transit");
      await ipIn(infra, "link", "set", "transit", "up");
      await mustRun("ip", ["addr", "add", `${transitHost}/${prefixOf(s.subnets.transit)}`, "dev", link]);
      await mustRun("ip", ["link", "set", link, "up"]);
      // The only route between the host and the WAN; it goes away with the link.
      await mustRun("ip", ["route", "add", s.subnets.wan, "via", transitRouter, "dev", link]);
    }

    const counters = { lan: 10, wan: 10 };
    let natIndex = 0;
    for (const [index, options] of nodes.entries()) {
      const account = await this.#account(options.user ?? "root");
      const namespace = `mb-${s.id}-${options.name}`;
      const ip = addressIn(options.network === "lan" ? s.subnets.lan : s.subnets.wan, counters[options.network]++);
      const dir = path.join(s.dir, options.name);
      fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
      const record: LabNodeRecord = {
        name: options.name,
        network: options.network,
        namespace,
        ip,
        hostIp: options.network === "lan" ? lanHost : transitHost,
        user: account.user,
        home: account.home,
        dir,
      };
      await this.#create(
        () => {
          s.nodes.push(record);
          s.namespaces.push(namespace);
        },
        () => mustRun("ip", ["netns", "add", namespace]),
      );
      // Where sshd listens: the node's own address (behind a NAT router, not the one the host dials).
      let listenIp = ip;
      if (options.nat) {
        const nat = await wireNatNode({
          id: s.id,
          name: options.name,
          namespace,
          natIndex: natIndex++,
          mode: options.nat,
          infra,
          wanSubnet: s.subnets.wan,
          wanRouter,
          transitRouter,
          wanLink: `mb-${s.id}-wan`,
          recordNamespace: (router) => {
            s.namespaces.push(router);
            this.#save();
          },
        });
        record.ip = nat.reachableIp;
        record.nat = options.nat;
        listenIp = nat.nodeIp;
        this.#save();
      } else {
        const port = `n${index}`;
        await ipIn(infra, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", namespace);
        await ipIn(infra, "link", "set", port, "master", options.network === "lan" ? "br-lan" : "br-wan", "up");
        await ipIn(namespace, "addr", "add", `${ip}/24`, "dev", "eth0");
        await ipIn(namespace, "link", "set", "eth0", "up");
        await ipIn(namespace, "link", "set", "lo", "up");
        // LAN nodes know only their LAN; WAN nodes reach the host (and nothing else) through the router.
        if (options.network === "wan") await ipIn(namespace, "route", "add", "default", "via", wanRouter);
      }

      const { publicKey: hostPublic } = await generateKey(path.join(dir, "host_key"), `${namespace}`);
      fs.writeFileSync(path.join(dir, "authorized_keys"), `${clientPublic}\n`, { mode: 0o644 });
      fs.appendFileSync(path.join(s.dir, "known_hosts"), `${record.ip} ${hostPublic.split(" ").slice(0, 2).join(" ")}\n`);
      await startSshd({ namespace, dir, ip: listenIp, account, sudo: options.sudo !== false }, (pid) => {
        record.sshdPid = pid;
        this.#save();
      });
      if (options.docker) {
        await startNodeDockerd({ namespace, dir, sshdPid: record.sshdPid! }, (pid) => {
          record.dockerdPid = pid;
          this.#save();
        });
      }
    }
  }

  /** The node's account, created (and recorded) when missing; its home exists as a mount point. */
  async #account(user: string): Promise<Account> {
    let account = await lookupAccount(user);
    if (!account) {
      this.#state.users.push(user);
      this.#save();
      account = await createAccount(user);
    }
    if (!fs.existsSync(account.home)) {
      this.#state.dirs.push(account.home);
      this.#save();
      fs.mkdirSync(account.home, { recursive: true, mode: 0o755 });
    }
    return account;
  }

  async #teardown(): Promise<void> {
    const s = this.#state;
    log(`destroy lab ${s.id}`);
    const errors: string[] = [];
    const attempt = async (what: string, action: () => Promise<unknown>) => {
      try {
        await action();
      } catch (error) {
        errors.push(`${what}: ${(error as Error).message}`);
      }
    };
    // Engines first, while they can still stop their containers (whose processes are in no node's namespace).
    await Promise.all(
      s.nodes.map(async (node) => {
        if (node.dockerdPid !== undefined && (await inNamespace(node.dockerdPid, node.namespace))) {
          await attempt(`dockerd of ${node.namespace}`, () => stopNodeDockerd(node.dockerdPid!, node.dir));
        }
      }),
    );
    // Processes next: `ip netns del` leaves them running, and they keep the namespace alive.
    for (const node of s.nodes) {
      if (node.sshdPid !== undefined && processAlive(node.sshdPid) && (await inNamespace(node.sshdPid, node.namespace))) {
        killQuietly(node.sshdPid);
      }
    }
    for (const namespace of [...s.namespaces].reverse()) {
      await attempt(`namespace ${namespace}`, async () => {
        if (!(await namespaceExists(namespace))) return;
        await killNamespace(namespace);
        await mustRun("ip", ["netns", "del", namespace]);
      });
    }
    for (const link of s.links) {
      await attempt(`link ${link}`, async () => {
        // A veth goes with its peer's namespace, asynchronously: gone meanwhile is gone.
        const result = await runCommand("ip", ["link", "del", link]);
        if (result.code !== 0 && !/Cannot find device/.test(result.stderr)) throw new HarnessError(result.stderr.trim(), { code: "E_LAB" });
      });
    }
    const others = listStates(this.#root).filter((o) => o.id !== s.id);
    for (const user of s.users) {
      if (others.some((o) => o.nodes.some((n) => n.user === user))) continue;
      await attempt(`account ${user}`, () => deleteAccount(user));
    }
    for (const dir of s.dirs) {
      if (others.some((o) => o.dirs.includes(dir) || o.nodes.some((n) => n.home === dir))) continue;
      await attempt(`directory ${dir}`, async () => fs.existsSync(dir) && fs.rmdirSync(dir));
    }
    if (errors.length > 0) {
      this.#save();
      throw new HarnessError(`Lab ${s.id} was not removed completely:\n- ${errors.join("\n- ")}`, { code: "E_LAB" });
    }
    fs.rmSync(s.dir, { recursive: true, force: true });
  }
}

function newLabId(root: string): string {
  for (;;) {
    const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    const id = Array.from(randomBytes(5), (b) => alphabet[b % alphabet.length]).join("");
    if (!readState(root, id)) return id;
  }
}

function readIfThere(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
}
