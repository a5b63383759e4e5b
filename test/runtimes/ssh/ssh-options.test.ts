import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, Harness } from "../../../src/public/index.js";
import { checkHostKey, fingerprint, knownHostsName, matchesHost } from "../../../src/ssh/known-hosts.js";
import { resolveDestination } from "../../../src/ssh/ssh-destination.js";
import type { ServiceSpec } from "../../../src/topology/types.js";
import { parseTopology } from "../../../src/topology/yaml.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-ssh-pure-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function keyBlob(name: string): { blob: Buffer; line: string } {
  const file = path.join(tmp, name);
  if (!fs.existsSync(file)) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file]);
  const [type, base64] = fs.readFileSync(`${file}.pub`, "utf8").split(" ");
  return { blob: Buffer.from(base64!, "base64"), line: `${type} ${base64}` };
}

describe("remoteLan options", () => {
  const base = { host: "10.1.2.3", binary: "/usr/bin/app", port: 8080 };

  it("is validated at the builder call, with the field and what to do", () => {
    const add = (options: Record<string, unknown>) => () => Harness.builder().remoteLan("svc", options as never);
    expect(add({ host: "10.1.2.3", port: 1 })).toThrow(/exactly one of `binary`, `package` and `docker`/);
    expect(add({ ...base, package: "./p.tar.gz" })).toThrow(/exactly one of `binary`, `package` and `docker`/);
    expect(add({ ...base, binary: "bin/app" })).toThrow(/`binary` of service "svc" to be an absolute path on the node, or a command name/);
    expect(add({ ...base, port: 0 })).toThrow(/`port` of service "svc" to be a fixed port/);
    expect(add({ ...base, host: "-oProxyCommand=x" })).toThrow(/`host` of service "svc"/);
    expect(add({ ...base, remoteRoot: "opt/harness" })).toThrow(/`remoteRoot` of service "svc" to be an absolute path/);
    expect(add({ ...base, ssh: { identityFil: "x" } })).toThrow(/Unknown option `ssh.identityFil` of service "svc": did you mean `identityFile`/);
    expect(add({ ...base, ssh: { strictHostKeyChecking: "maybe" } })).toThrow(/"yes", "accept-new" or "no"/);
    expect(add({ ...base, ssh: { port: 70000 } })).toThrow(/`ssh.port` of service "svc" to be an integer from 1 to 65535/);
    expect(add({ ...base, args: ["x"], binary: undefined, package: "p.tgz" })).toThrow(ConfigError);
  });

  it("takes OpenSSH's and YAML's spellings of ssh options", () => {
    const spec = Harness.builder()
      .remoteLan("svc", { ...base, ssh: { IdentityFile: "/k", strict_host_key_checking: "no" } as never })
      .toSpec();
    expect((spec.services[0] as ServiceSpec<"remote_lan">).options.ssh).toEqual({ identityFile: "/k", strictHostKeyChecking: "no" });
  });

  it("comes from YAML's target.remote_lan, with a package beside the file", () => {
    const spec = parseTopology(
      `
services:
  cache-server:
    target:
      remote_lan:
        host: 192.168.1.100
        user: deploy
        binary: /opt/cache-server/bin/cache
        remote_root: /srv/harness
        ssh:
          identity_file: ~/.ssh/deploy
          strict_host_key_checking: accept-new
    port: 6379
  loader:
    target:
      remote_lan:
        host: lan-box
        package: ./packages/loader.tar.gz
`,
      "services.yaml",
      "/work/topology",
    );
    const cache = spec.services.find((s) => s.name === "cache-server")!;
    expect(cache.target).toBe("remote_lan");
    expect(cache.port).toBe(6379);
    expect(cache.options).toMatchObject({
      host: "192.168.1.100",
      user: "deploy",
      binary: "/opt/cache-server/bin/cache",
      remoteRoot: "/srv/harness",
      ssh: { identityFile: "~/.ssh/deploy", strictHostKeyChecking: "accept-new" },
    });
    expect((spec.services.find((s) => s.name === "loader") as ServiceSpec<"remote_lan">).options.package).toBe("/work/topology/packages/loader.tar.gz");
    expect(() => parseTopology("services:\n  x:\n    target:\n      remote_lan:\n        host: h\n        binary: /b\n        sshh: {}\n")).toThrow(/services\.x\.target\.remote_lan\.sshh/);
  });
});

describe("~/.ssh/config", () => {
  it("resolves aliases as OpenSSH does: first value wins, explicit options win over the file", () => {
    const config = path.join(tmp, "config");
    fs.writeFileSync(
      config,
      [
        "Host db-*",
        "  HostName %h.internal.example",
        "  User deploy",
        "  Port 2222",
        "  IdentityFile ~/.ssh/db_key",
        "  StrictHostKeyChecking accept-new",
        "  ProxyJump bastion",
        "Host *",
        "  User fallback",
        "  IdentityFile ~/.ssh/other",
        "  UserKnownHostsFile ~/.ssh/hosts_%h",
        "",
      ].join("\n"),
    );
    const d = resolveDestination("db-1", undefined, { configFile: config });
    expect(d).toMatchObject({
      alias: "db-1",
      hostName: "db-1.internal.example",
      user: "deploy",
      port: 2222,
      strictHostKeyChecking: "accept-new",
      proxyJump: "bastion",
      identitiesOnly: false,
    });
    expect(d.identityFiles).toEqual([path.join(os.homedir(), ".ssh/db_key"), path.join(os.homedir(), ".ssh/other")]);
    expect(d.knownHostsFiles).toEqual([path.join(os.homedir(), ".ssh/hosts_db-1.internal.example")]);
    const explicit = resolveDestination("db-1", "me", { configFile: config, port: 22, identityFile: "/k", strictHostKeyChecking: "yes", proxyJump: "none" });
    expect(explicit).toMatchObject({ user: "me", port: 22, identityFiles: ["/k"], identitiesOnly: true, strictHostKeyChecking: "yes", proxyJump: undefined });
    // Without a config, OpenSSH's defaults.
    const plain = resolveDestination("10.0.0.5", "u", { configFile: "/dev/null" });
    expect(plain).toMatchObject({ hostName: "10.0.0.5", port: 22, strictHostKeyChecking: "yes" });
    expect(plain.knownHostsFiles).toContain(path.join(os.homedir(), ".ssh/known_hosts"));
  });
});

describe("known_hosts", () => {
  it("matches plain, wildcard, negated and [host]:port patterns", () => {
    expect(matchesHost(["10.0.0.1"], "10.0.0.1")).toBe(true);
    expect(matchesHost(["*.example.com", "!bad.example.com"], "good.example.com")).toBe(true);
    expect(matchesHost(["*.example.com", "!bad.example.com"], "bad.example.com")).toBe(false);
    expect(matchesHost(["[10.0.0.1]:2222"], knownHostsName("10.0.0.1", 2222))).toBe(true);
    expect(matchesHost(["10.0.0.1"], knownHostsName("10.0.0.1", 2222))).toBe(false);
    expect(matchesHost(["10.0.0.?"], "10.0.0.7")).toBe(true);
  });

  it("reads hashed entries made by ssh-keygen -H, and tells known, changed and unknown keys apart", () => {
    const good = keyBlob("good");
    const other = keyBlob("other");
    const file = path.join(tmp, "known_hosts");
    fs.writeFileSync(file, `# a comment\n10.9.9.9 ${good.line}\n[10.9.9.9]:2200 ${other.line}\n`);
    execFileSync("ssh-keygen", ["-q", "-H", "-f", file]);
    expect(fs.readFileSync(file, "utf8")).not.toContain("10.9.9.9");
    expect(checkHostKey([file], ["10.9.9.9"], good.blob)).toMatchObject({ status: "known" });
    expect(checkHostKey([file], ["10.9.9.9"], other.blob)).toMatchObject({ status: "changed", recorded: fingerprint(good.blob) });
    expect(checkHostKey([file], ["[10.9.9.9]:2200"], other.blob)).toMatchObject({ status: "known" });
    expect(checkHostKey([file], ["10.9.9.8"], good.blob)).toEqual({ status: "unknown", otherTypes: [] });
    fs.appendFileSync(file, `@revoked * ${good.line}\n`);
    expect(checkHostKey([file], ["10.9.9.9"], good.blob)).toMatchObject({ status: "revoked" });
  });

  it("fingerprints keys as OpenSSH does", () => {
    const key = keyBlob("print");
    const openssh = execFileSync("ssh-keygen", ["-l", "-f", path.join(tmp, "print.pub")], { encoding: "utf8" }).split(" ")[1];
    expect(fingerprint(key.blob)).toBe(openssh);
  });
});
