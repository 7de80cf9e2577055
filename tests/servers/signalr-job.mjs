// A job progress hub speaking ASP.NET Core SignalR's JSON hub protocol, for
// the signalr dialect's tests. The .NET server cannot be installed here, so
// this is a fixture written from the published protocol (aspnetcore
// specs/HubProtocol.md and TransportProtocols.md) on npm `ws`:
//   - POST /hub/negotiate?negotiateVersion=1 answers connectionId,
//     connectionToken and the WebSockets transport; a wrong bearer token is
//     a 401 there;
//   - the WebSocket at /hub?id=<connectionToken> takes exactly the tokens
//     negotiated, once each;
//   - the handshake request {"protocol":"json","version":1} is answered {};
//     any other message before it closes the connection, as the server does;
//   - records end with 0x1E; the server pings (type 6) every keepAliveMs and
//     drops a client silent for clientTimeoutMs;
//   - the job's messages are invocations (type 1) of progress, complete and
//     failed; `close` (type 7) can be sent from stdin.
// Prints `LISTENING <port>`. Options as JSON in argv[2]: token, total,
// intervalMs, handshakeDelayMs (the not-ready window), failAfter,
// keepAliveMs (default 15000), clientTimeoutMs (default 30000). Commands on
// stdin: `drop`, `close` (type 7 with allowReconnect).
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { WebSocketServer } from "ws";
import { runJob } from "./job.mjs";

const RS = "\u001e";
const opts = JSON.parse(process.argv[2] ?? "{}");
const negotiated = new Set();
const ready = new Set();

const http = createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  if (req.method === "POST" && url.pathname === "/hub/negotiate") {
    if (opts.token !== undefined && req.headers.authorization !== `Bearer ${opts.token}`) {
      res.writeHead(401).end();
      return;
    }
    const connectionToken = randomUUID();
    negotiated.add(connectionToken);
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({
      connectionId: randomUUID(),
      connectionToken,
      negotiateVersion: 1,
      availableTransports: [{ transport: "WebSockets", transferFormats: ["Text", "Binary"] }],
    }));
    return;
  }
  res.writeHead(404).end();
});
const wss = new WebSocketServer({ noServer: true });
http.on("upgrade", (req, socket, head) => {
  const url = new URL(req.url, "http://x");
  const id = url.searchParams.get("id");
  if (url.pathname !== "/hub" || !negotiated.delete(id)) {
    socket.end("HTTP/1.1 404 Not Found\r\n\r\n");
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws));
});

const send = (ws, msg) => ws.send(JSON.stringify(msg) + RS);
let started = false;
function startJob() {
  if (started) return;
  started = true;
  runJob(opts, (target, arg) => {
    for (const ws of ready) send(ws, { type: 1, target, arguments: [arg] });
  });
}

wss.on("connection", (ws) => {
  let handshaken = false;
  let heard = Date.now();
  const keepAlive = setInterval(() => {
    if (handshaken) send(ws, { type: 6 });
    if (Date.now() - heard > (opts.clientTimeoutMs ?? 30000)) {
      process.stdout.write("CLIENT_TIMEOUT\n");
      ws.terminate();
    }
  }, opts.keepAliveMs ?? 15000);
  ws.on("close", () => { clearInterval(keepAlive); ready.delete(ws); });
  ws.on("message", async (data) => {
    heard = Date.now();
    const records = data.toString().split(RS);
    if (records.at(-1) !== "") return ws.close(1003);
    for (const record of records.slice(0, -1)) {
      const msg = JSON.parse(record);
      if (!handshaken) {
        if (msg.protocol !== "json" || msg.version !== 1) {
          process.stdout.write("BAD_HANDSHAKE\n");
          ws.send(JSON.stringify({ error: "Requested protocol is not available." }) + RS);
          return ws.close(1000);
        }
        if (opts.handshakeDelayMs) await new Promise((r) => setTimeout(r, opts.handshakeDelayMs));
        handshaken = true;
        ws.send("{}" + RS);
        ready.add(ws);
        process.stdout.write("HANDSHAKE\n");
        startJob();
        continue;
      }
      if (msg.type === 6) { process.stdout.write("PING\n"); continue; }
      if (msg.type === 1) process.stdout.write(`INVOKE ${msg.target} ${JSON.stringify(msg.arguments)}\n`);
    }
  });
});

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "drop") {
    for (const client of wss.clients) client.terminate();
    process.stdout.write("DROPPED\n");
  } else if (line === "close") {
    for (const client of wss.clients) send(client, { type: 7, error: "server restarting", allowReconnect: true });
  }
});

http.listen(0, "127.0.0.1", () => {
  process.stdout.write(`LISTENING ${http.address().port}\n`);
});
