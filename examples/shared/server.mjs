// A small HTTP service: /health, /whoami, /env, and /call/<VAR> which calls the peer at $VAR.
import http from "node:http";

const port = Number(process.env.PORT ?? 0);
const delay = Number(process.env.LISTEN_DELAY_MS ?? 0);

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/health") return res.end("ok");
  if (url.pathname === "/whoami") return res.end(process.env.HARNESS_SERVICE ?? "unknown");
  if (url.pathname === "/env") return res.end(JSON.stringify(process.env));
  if (url.pathname.startsWith("/call/")) {
    const addr = process.env[url.pathname.slice("/call/".length)];
    try {
      const answer = await fetch(`http://${addr}/whoami`, { signal: AbortSignal.timeout(3000) });
      return res.end(`${addr} -> ${await answer.text()}`);
    } catch (error) {
      res.statusCode = 502;
      return res.end(`${addr} failed: ${error.message}`);
    }
  }
  res.statusCode = 404;
  res.end("not found");
});

setTimeout(() => {
  server.listen(port, "0.0.0.0", () => console.log(`${process.env.HARNESS_SERVICE} listening on ${server.address().port}`));
}, delay);
process.on("SIGTERM", () => server.close(() => process.exit(0)));
