/**
 * The services the figures start, the same program everywhere: busybox httpd, which listens at
 * once (so start times are the harness's and the runtime's, not the service's). As a local process
 * it is `/bin/busybox httpd`; as a container it is the test image (test/support/images.ts), whose
 * default command runs the same httpd.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Harness } from "../src/public/index.js";
import { freePort } from "../src/host/ports.js";
import { probeUntilOpen } from "./probe.js";

export const BUSYBOX = "/bin/busybox";
/** The port busybox httpd listens on inside a container. */
export const CONTAINER_PORT = 8080;

let www: string | undefined;

/** A directory for httpd to serve (kept for the process's life; removed at exit). */
export function wwwDir(): string {
  if (www) return www;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshbed-bench-www-"));
  fs.writeFileSync(path.join(dir, "health"), "ok\n");
  process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  www = dir;
  return dir;
}

export const names = (n: number) => Array.from({ length: n }, (_, i) => `s${i}`);

type AnyBuilder = { process(name: string, o: object): AnyBuilder; docker(name: string, o: object): AnyBuilder; start(): Promise<Harness> };

/** A started meshbed topology of `n` busybox httpd processes (ports picked), no dependencies. */
export function startProcesses(n: number): Promise<Harness> {
  let builder = Harness.builder() as unknown as AnyBuilder;
  for (const name of names(n)) builder = builder.process(name, { binary: BUSYBOX, args: ["httpd", "-f", "-p", "127.0.0.1:${PORT}", "-h", wwwDir()], port: 0 });
  return builder.start();
}

/**
 * A started meshbed topology of `n` services that each take `readyAfterMs` to become ready (a shell
 * that sleeps, then runs busybox httpd): what parallel start is for.
 */
export function startSlowProcesses(n: number, readyAfterMs: number): Promise<Harness> {
  let builder = Harness.builder() as unknown as AnyBuilder;
  const script = `sleep ${readyAfterMs / 1000}; exec ${BUSYBOX} httpd -f -p "127.0.0.1:$PORT" -h "${wwwDir()}"`;
  for (const name of names(n)) builder = builder.process(name, { binary: "/bin/sh", args: ["-c", script], port: 0 });
  return builder.start();
}

/** A started meshbed topology of `n` busybox httpd containers, no dependencies. */
export function startContainers(n: number, image: string): Promise<Harness> {
  let builder = Harness.builder() as unknown as AnyBuilder;
  for (const name of names(n)) builder = builder.docker(name, { image, port: CONTAINER_PORT });
  return builder.start();
}

/** What a person would write without meshbed: spawn, probe, kill the group. */
export class BareProcess {
  #child: ChildProcess | undefined;
  port = 0;

  /** `readyAfterMs`: a shell sleeps that long first, as `startSlowProcesses` does. */
  constructor(private readonly readyAfterMs = 0) {}

  async start(): Promise<void> {
    this.port ||= await freePort();
    const httpd = ["httpd", "-f", "-p", `127.0.0.1:${this.port}`, "-h", wwwDir()];
    const [file, args] = this.readyAfterMs > 0 ? ["/bin/sh", ["-c", `sleep ${this.readyAfterMs / 1000}; exec ${BUSYBOX} ${httpd.join(" ")}`]] : [BUSYBOX, httpd];
    const child = spawn(file, args, { detached: true, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.resume();
    child.stderr!.resume();
    this.#child = child;
    await probeUntilOpen("127.0.0.1", this.port);
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    process.kill(-child.pid!, "SIGTERM");
    await exited;
  }
}
