import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readPackage } from "../../src/package/package-archive.js";
import { type HarnessError, pack } from "../../src/public/index.js";
import { greeterPackage, writePackageDir } from "../support/packages.js";

async function packError(files: Record<string, string>, drop: string[] = []): Promise<HarnessError> {
  const all = { ...greeterPackage(), ...files };
  for (const name of drop) delete all[name];
  const dir = writePackageDir(all);
  return (await pack(dir, path.join(dir, "..", "out.tar.gz")).then(
    () => {
      throw new Error("pack accepted an invalid package");
    },
    (e: unknown) => e,
  )) as HarnessError;
}

describe("service packages", () => {
  it("packs a directory into a .tar.gz that tar reads, with executable scripts, the same bytes every time", async () => {
    const dir = writePackageDir(greeterPackage());
    const first = await pack(dir, path.join(dir, "..", "a.tar.gz"));
    const second = await pack(dir, path.join(dir, "..", "b.tar.gz"));
    expect(first.manifest).toMatchObject({ name: "greeter", version: "1.2.3", port: 8470, systemRequires: ["/bin/sh", "node"] });
    expect(fs.readFileSync(first.file).equals(fs.readFileSync(second.file))).toBe(true);
    const listing = execFileSync("tar", ["-tvzf", first.file], { encoding: "utf8" });
    expect(listing).toMatch(/-rwxr-xr-x .* scripts\/start\.sh/);
    expect(listing).toMatch(/-rw-r--r-- .* config\/greeting\.txt/);
    const read = await readPackage(first.file);
    expect(read.hasHealthScript).toBe(true);
    expect(read.files).toContain("bin/server.mjs");
  });

  it("names <name>-<version>.tar.gz by default", async () => {
    const dir = writePackageDir(greeterPackage());
    const cwd = process.cwd();
    process.chdir(path.dirname(dir));
    try {
      expect((await pack(dir)).file).toBe(path.join(path.dirname(dir), "greeter-1.2.3.tar.gz"));
    } finally {
      process.chdir(cwd);
    }
  });

  it("refuses an invalid manifest with the file and the field", async () => {
    const bad = (yaml: string) => packError({ "manifest.yaml": yaml });
    expect((await bad("name: greeter\nversion: 1\nport: http\n")).message).toMatch(/manifest\.yaml: `port` must be an integer from 1 to 65535, got "http"/);
    expect((await bad("version: 1\n")).message).toMatch(/manifest\.yaml: `name` must be/);
    expect((await bad("name: greeter\n")).message).toMatch(/manifest\.yaml: `version` must be a string/);
    expect((await bad("name: g\nversion: 1\nsystem_requires: curl\n")).message).toMatch(/manifest\.yaml: `system_requires` must be a list/);
    expect((await bad("name: g\nversion: 1\nports: 80\n")).message).toMatch(/manifest\.yaml: unknown field `ports`/);
    expect((await bad("name: [\n")).message).toMatch(/manifest\.yaml: it is not valid YAML/);
    expect((await bad('name: g\nversion: ""\n')).code).toBe("E_PACKAGE_INVALID");
  });

  it("refuses a package without its required scripts, naming the file", async () => {
    expect((await packError({}, ["scripts/stop.sh"])).message).toMatch(/scripts\/stop\.sh: the file is missing/);
    expect((await packError({}, ["manifest.yaml"])).message).toMatch(/manifest\.yaml: the file is missing/);
    // health.sh is optional.
    const dir = writePackageDir(Object.fromEntries(Object.entries(greeterPackage()).filter(([k]) => k !== "scripts/health.sh")));
    expect((await readPackage(dir)).hasHealthScript).toBe(false);
  });

  it("refuses what is not a package tarball", async () => {
    const dir = writePackageDir(greeterPackage());
    const notGzip = path.join(dir, "..", "plain.tar.gz");
    fs.writeFileSync(notGzip, "just text");
    await expect(readPackage(notGzip)).rejects.toThrow(/plain\.tar\.gz: it is not a gzipped tarball/);
    await expect(readPackage(path.join(dir, "..", "missing.tar.gz"))).rejects.toThrow(/the file does not exist: build it with `meshbed pack <dir>`/);
    // A tarball that escapes its dir.
    const evil = path.join(dir, "..", "evil.tar.gz");
    execFileSync("tar", ["-czf", evil, "-C", dir, "--transform", "s,^,../,", "manifest.yaml"]);
    await expect(readPackage(evil)).rejects.toThrow(/outside the package dir/);
  });
});

describe("service packages: templates and setup.sh", () => {
  const withExtras = () => ({
    ...greeterPackage(),
    "config/app.conf.template": "listen = ${PORT}\n",
    "config/nested/db.ini.template": "password = ${DB_PASSWORD}\n",
    "scripts/setup.sh": "#!/bin/sh\necho setting up\n",
  });

  it("packs templates and setup.sh (made executable like the other scripts) and reads them back", async () => {
    const dir = writePackageDir(withExtras());
    const { file } = await pack(dir, path.join(dir, "..", "extras.tar.gz"));
    const listing = execFileSync("tar", ["-tvzf", file], { encoding: "utf8" });
    expect(listing).toMatch(/-rwxr-xr-x .* scripts\/setup\.sh/);
    expect(listing).toMatch(/-rw-r--r-- .* config\/app\.conf\.template/);
    for (const source of [file, dir]) {
      const read = await readPackage(source);
      expect(read.hasSetupScript).toBe(true);
      expect(read.manifest.setupTimeoutMs).toBe(120_000);
      expect(read.templates).toEqual([
        { file: "config/app.conf.template", target: "config/app.conf", text: "listen = ${PORT}\n" },
        { file: "config/nested/db.ini.template", target: "config/nested/db.ini", text: "password = ${DB_PASSWORD}\n" },
      ]);
    }
    expect((await readPackage(writePackageDir(greeterPackage()))).hasSetupScript).toBe(false);
  });

  it("takes `setup_timeout` in seconds from the manifest, and refuses a bad one", async () => {
    const dir = writePackageDir({ ...withExtras(), "manifest.yaml": "name: g\nversion: 1\nsetup_timeout: 2.5\n" });
    expect((await readPackage(dir)).manifest.setupTimeoutMs).toBe(2_500);
    for (const bad of ["0", "-1", "soon", "100000"]) {
      expect((await packError({ "manifest.yaml": `name: g\nversion: 1\nsetup_timeout: ${bad}\n` })).message).toMatch(
        /manifest\.yaml: `setup_timeout` must be a number of seconds from 1 to 86400 \(how long scripts\/setup\.sh may run\)/,
      );
    }
  });

  it("refuses a template that would render over a file of the package", async () => {
    const error = await packError({ "config/app.conf.template": "x\n", "config/app.conf": "y\n" });
    expect(error.code).toBe("E_PACKAGE_INVALID");
    expect(error.message).toMatch(/config\/app\.conf\.template: the template renders to config\/app\.conf, which the package also has: remove one of them/);
  });

  it("refuses a tarball whose scripts are not executable (setup.sh too), and a template that is not text", async () => {
    const dir = writePackageDir(withExtras());
    const tarball = (name: string) => {
      const out = path.join(dir, "..", name);
      execFileSync("tar", ["-czf", out, "-C", dir, "."]);
      return out;
    };
    // writePackageDir writes 0644: only `pack` makes scripts executable.
    await expect(readPackage(tarball("plain.tar.gz"))).rejects.toThrow(/scripts\/[a-z]+\.sh: the script is not executable \(mode 0644\): build the package with `meshbed pack <dir>`/);
    for (const script of ["start", "stop", "health"]) fs.chmodSync(path.join(dir, "scripts", `${script}.sh`), 0o755);
    await expect(readPackage(tarball("no-setup-x.tar.gz"))).rejects.toThrow(/scripts\/setup\.sh: the script is not executable/);
    fs.chmodSync(path.join(dir, "scripts", "setup.sh"), 0o755);
    expect((await readPackage(tarball("ok.tar.gz"))).hasSetupScript).toBe(true);
    fs.writeFileSync(path.join(dir, "config", "app.conf.template"), Buffer.from([0xff, 0xfe, 0x00]));
    await expect(readPackage(tarball("binary.tar.gz"))).rejects.toThrow(/config\/app\.conf\.template: a config template must be UTF-8 text/);
  });
});
