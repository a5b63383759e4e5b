import { createRequire } from "node:module";
import type { Client as Ssh2Client } from "ssh2";

/** SSH_MSG_IGNORE (RFC 4253 §11.2): carries nothing and asks for no answer. */
const MSG_IGNORE = 2;

interface PacketWriter {
  allocStart: number;
  alloc(size: number): Buffer;
  finalize(packet: Buffer): Buffer;
}

type SendPacket = (protocol: unknown, packet: Buffer) => void;
let sendPacket: SendPacket | null | undefined;

/**
 * Sends an empty SSH_MSG_IGNORE, so that the TCP segment carrying it acknowledges what the server
 * sent last at once. Why: right after the login, OpenSSH's sshd answers ssh2's `hostkeys-prove`
 * request, and then the first reply on a channel (an engine's ping, a command's output); sshd does
 * not set TCP_NODELAY for sessions without a terminal, so that reply waited for this side's delayed
 * ACK of the answer (~40 ms on Linux, on the first request of most connections). ssh2 has no public
 * call for it: this uses ssh2 1.x's packet writer, and does nothing if that is not there.
 */
export function ackNow(client: Ssh2Client): void {
  try {
    if (sendPacket === undefined) {
      const utils = createRequire(import.meta.url)("ssh2/lib/protocol/utils.js") as { sendPacket?: SendPacket };
      sendPacket = typeof utils.sendPacket === "function" ? utils.sendPacket : null;
    }
    const protocol = (client as unknown as { _protocol?: { _packetRW?: { write?: PacketWriter } } })._protocol;
    const writer = protocol?._packetRW?.write;
    if (!sendPacket || !writer || typeof writer.alloc !== "function") return;
    const start = writer.allocStart;
    const packet = writer.alloc(5);
    packet[start] = MSG_IGNORE;
    packet.writeUInt32BE(0, start + 1);
    sendPacket(protocol, writer.finalize(packet));
  } catch {
    // Only a latency saving: without it everything works as before.
  }
}
