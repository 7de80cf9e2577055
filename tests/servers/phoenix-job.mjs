// A job progress channel speaking Phoenix Channels' v2 JSON serializer, for
// the phoenix dialect's tests. The Phoenix server (Elixir) cannot be
// installed here, so this is a fixture written from the published protocol
// (hexdocs "Writing a Channels Client", Phoenix.Socket.V2.JSONSerializer) on
// npm `ws`:
//   - the endpoint is /socket/websocket?vsn=2.0.0; other vsn values are
//     refused at the upgrade;
//   - messages are [join_ref, ref, topic, event, payload];
//   - phx_join is answered with phx_reply {status, response}; a push to a
//     topic not joined is answered {status: "error", response: {reason:
//     "unmatched topic"}}, as Phoenix does;
//   - heartbeats on topic "phoenix" are answered; a client silent for
//     heartbeatTimeoutMs is disconnected, as Phoenix's 60 s timeout does;
//   - the server pushes [join_ref, null, topic, event, payload].
// Prints `LISTENING <port>`. Options as JSON in argv[2]: token, total,
// intervalMs, joinDelayMs (the not-ready window), failAfter,
// heartbeatTimeoutMs (default 60000). Commands on stdin: `drop`.
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { runJob } from "./job.mjs";
import { WebSocketServer } from "ws";

const opts = JSON.parse(process.argv[2] ?? "{}");
const http = createServer();
const wss = new WebSocketServer({ noServer: true });
const joined = new Set(); // [ws, topic, joinRef]

http.on("upgrade", (req, socket, head) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname !== "/socket/websocket" || url.searchParams.get("vsn") !== "2.0.0") {
    socket.end("HTTP/1.1 400 Bad Request\r\n\r\n");
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws));
});

function push(event, payload) {
  for (const entry of joined) {
    const [ws, topic, joinRef] = entry;
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify([joinRef, null, topic, event, payload]));
  }
}

let started = false;
function startJob() {
  if (started) return;
  started = true;
  runJob(opts, push);
}

wss.on("connection", (ws) => {
  const topics = new Map();
  let lastBeat = Date.now();
  const timeout = opts.heartbeatTimeoutMs ?? 60000;
  const watchdog = setInterval(() => {
    if (Date.now() - lastBeat > timeout) {
      process.stdout.write("HEARTBEAT_TIMEOUT\n");
      ws.terminate();
    }
  }, Math.min(timeout, 100));
  ws.on("close", () => {
    clearInterval(watchdog);
    for (const entry of joined) if (entry[0] === ws) joined.delete(entry);
  });
  ws.on("message", async (data) => {
    let msg;
    try { msg = JSON.parse(data.toString()); } catch { return ws.close(1003); }
    const [joinRef, ref, topic, event, payload] = msg;
    const reply = (status, response) =>
      ws.send(JSON.stringify([joinRef, ref, topic, "phx_reply", { status, response }]));
    if (topic === "phoenix" && event === "heartbeat") {
      lastBeat = Date.now();
      return reply("ok", {});
    }
    if (event === "phx_join") {
      if (opts.joinDelayMs) await new Promise((r) => setTimeout(r, opts.joinDelayMs));
      if (opts.token !== undefined && payload?.token !== opts.token) {
        return reply("error", { reason: "unauthorized" });
      }
      topics.set(topic, joinRef);
      joined.add([ws, topic, joinRef]);
      process.stdout.write(`JOINED ${topic}\n`);
      reply("ok", {});
      startJob();
      return;
    }
    if (!topics.has(topic)) {
      process.stdout.write(`UNMATCHED ${event}\n`);
      return reply("error", { reason: "unmatched topic" });
    }
    process.stdout.write(`PUSH ${event} ${JSON.stringify(payload)}\n`);
    reply("ok", {});
  });
});

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "drop") {
    for (const client of wss.clients) client.terminate();
    process.stdout.write("DROPPED\n");
  }
});

http.listen(0, "127.0.0.1", () => {
  process.stdout.write(`LISTENING ${http.address().port}\n`);
});
