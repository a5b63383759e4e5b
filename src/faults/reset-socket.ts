/** Closing a TCP socket with a RST, so that its peer sees ECONNRESET rather than a clean end. */
import type net from "node:net";

/**
 * Resets `socket` (a destroyed one is left as it is). libuv refuses a reset while the FIN of an
 * `end()` is on its way (EINVAL), and Node then never emits `close`: the socket's handle stays
 * open and whatever waits for its close waits for ever (seen as a proxy's close that never
 * finished). Such a socket is reset once its FIN is out (`finish`); a socket whose writes are still
 * queued has not begun its shutdown and is reset at once.
 */
export function resetSocket(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.writableEnded && !socket.writableFinished && socket.writableLength === 0) {
    socket.once("finish", () => resetSocket(socket));
    return;
  }
  try {
    socket.resetAndDestroy();
  } catch {
    // Not a TCP socket (a pipe): a plain close is the most it can do.
    socket.destroy();
  }
}
