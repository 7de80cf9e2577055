// A real browser's capture for the HAR import test: Debian's chromium,
// driven by playwright-core, opens a page (served here on 127.0.0.1) whose
// naive job client sends a `ping` before the server's `ready_ack`. Two HAR
// files come out of one run:
//
// - `devtools.har`: built from the Chrome DevTools Protocol's Network
//   events, as DevTools' "Save all as HAR" builds it (message times in
//   epoch seconds);
// - `playwright.har`: playwright's own `recordHar` (content "embed"),
//   whose message times are epoch milliseconds.
//
// Usage: node browser-har.mjs '{"wsUrl": "ws://…", "out": "/dir"}'
// (`chromium`: the executable, default $CHROMIUM or /usr/bin/chromium).
// Prints one JSON line, {"page": what the page saw, "files": [...]}, and
// exits 0; any failure or timeout exits 1 with the reason on stderr.

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const opts = JSON.parse(process.argv[2] ?? "{}");
const executablePath = opts.chromium ?? process.env.CHROMIUM ?? "/usr/bin/chromium";
/** Every wait here is bounded by this. */
const TIMEOUT_MS = 20_000;

// The page: a job client that does not wait for `ready_ack` before its
// first job message, and resends `ready` until it is acked (a deaf server
// drops the first one). It reports what it saw when the socket closes.
const PAGE = `<!doctype html>
<meta charset="utf-8"><title>job progress</title>
<pre id="log"></pre>
<script>
const wsUrl = new URLSearchParams(location.search).get("ws");
const seen = [];
const show = (line) => { document.getElementById("log").textContent += line + "\\n"; };
const ws = new WebSocket(wsUrl);
let acked = false, resends = 0, timer = null;
const ready = JSON.stringify({ v: 1, type: "ready", payload: { resumeFrom: null } });
ws.onopen = () => {
  ws.send(ready);
  // The race: a job message before the server's ready_ack.
  ws.send(JSON.stringify({ v: 1, type: "ping", payload: { nonce: "early" } }));
  timer = setInterval(() => {
    if (acked || ++resends > 100) return clearInterval(timer);
    ws.send(ready);
  }, 100);
};
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  seen.push(m.type);
  show(m.type + (m.seq ? " " + m.seq : ""));
  if (m.type === "ready_ack") { acked = true; clearInterval(timer); }
};
ws.onclose = (e) => { clearInterval(timer); window.reportDone({ seen, code: e.code, acked }); };
</script>`;

const fail = (why) => {
  console.error(`browser-har: ${why}`);
  process.exit(1);
};
const bounded = (promise, what) =>
  Promise.race([
    promise,
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: no answer in ${TIMEOUT_MS} ms`)), TIMEOUT_MS).unref(),
    ),
  ]);

/** DevTools' way: Network events in, HAR entries out. */
class DevtoolsHar {
  constructor() {
    this.sockets = new Map();
    this.requests = new Map();
    this.closed = new Set();
    this.waiters = [];
  }

  attach(cdp) {
    cdp.on("Network.webSocketCreated", (e) => {
      this.sockets.set(e.requestId, { url: e.url, messages: [], request: null, response: null, end: null });
    });
    cdp.on("Network.webSocketWillSendHandshakeRequest", (e) => {
      const s = this.sockets.get(e.requestId);
      if (s) s.request = { ts: e.timestamp, wallTime: e.wallTime, headers: e.request.headers };
    });
    cdp.on("Network.webSocketHandshakeResponseReceived", (e) => {
      const s = this.sockets.get(e.requestId);
      if (s) s.response = { ts: e.timestamp, ...e.response };
    });
    const frame = (type) => (e) => {
      const s = this.sockets.get(e.requestId);
      if (s?.request) s.messages.push({ type, ts: e.timestamp, opcode: e.response.opcode, data: e.response.payloadData });
    };
    cdp.on("Network.webSocketFrameSent", frame("send"));
    cdp.on("Network.webSocketFrameReceived", frame("receive"));
    cdp.on("Network.webSocketClosed", (e) => {
      const s = this.sockets.get(e.requestId);
      if (s) s.end = e.timestamp;
      this.closed.add(e.requestId);
      this.waiters.forEach((w) => w());
    });
    cdp.on("Network.requestWillBeSent", (e) => {
      this.requests.set(e.requestId, { url: e.request.url, method: e.request.method, headers: e.request.headers, ts: e.timestamp, wallTime: e.wallTime, response: null });
    });
    cdp.on("Network.responseReceived", (e) => {
      const r = this.requests.get(e.requestId);
      if (r) r.response = { ...e.response, ts: e.timestamp };
    });
  }

  /** Resolves once every socket seen so far has closed. */
  allClosed() {
    return new Promise((resolve) => {
      const check = () => {
        if (this.sockets.size > 0 && [...this.sockets.keys()].every((id) => this.closed.has(id))) resolve();
      };
      this.waiters.push(check);
      check();
    });
  }

  har() {
    const headers = (h) => Object.entries(h ?? {}).map(([name, value]) => ({ name, value: String(value) }));
    const iso = (wallSeconds) => new Date(wallSeconds * 1000).toISOString();
    const entries = [];
    for (const r of this.requests.values()) {
      entries.push({
        startedDateTime: iso(r.wallTime),
        time: r.response ? (r.response.ts - r.ts) * 1000 : 0,
        request: { method: r.method, url: r.url, httpVersion: "HTTP/1.1", headers: headers(r.headers), queryString: [], cookies: [], headersSize: -1, bodySize: 0 },
        response: {
          status: r.response?.status ?? 0, statusText: r.response?.statusText ?? "", httpVersion: "HTTP/1.1",
          headers: headers(r.response?.headers), cookies: [], content: { size: 0, mimeType: r.response?.mimeType ?? "x-unknown" },
          redirectURL: "", headersSize: -1, bodySize: -1,
        },
        cache: {},
        timings: { blocked: -1, dns: -1, ssl: -1, connect: -1, send: 0, wait: r.response ? (r.response.ts - r.ts) * 1000 : -1, receive: 0 },
        _resourceType: "document",
      });
    }
    for (const s of this.sockets.values()) {
      if (!s.request) continue;
      // DevTools' pseudo wall time: the handshake's wall time plus the
      // monotonic time since it.
      const wall = (ts) => s.request.wallTime + (ts - s.request.ts);
      const last = s.end ?? s.messages.at(-1)?.ts ?? s.request.ts;
      entries.push({
        startedDateTime: iso(s.request.wallTime),
        time: (last - s.request.ts) * 1000,
        request: { method: "GET", url: s.url, httpVersion: "HTTP/1.1", headers: headers(s.request.headers), queryString: [], cookies: [], headersSize: -1, bodySize: 0 },
        response: {
          status: s.response?.status ?? 0, statusText: s.response?.statusText ?? "", httpVersion: "HTTP/1.1",
          headers: headers(s.response?.headers), cookies: [], content: { size: 0, mimeType: "x-unknown" },
          redirectURL: "", headersSize: -1, bodySize: 0,
        },
        cache: {},
        timings: { blocked: -1, dns: -1, ssl: -1, connect: -1, send: 0, wait: s.response ? (s.response.ts - s.request.ts) * 1000 : -1, receive: 0 },
        _resourceType: "websocket",
        _webSocketMessages: s.messages.map((m) => ({ type: m.type, time: wall(m.ts), opcode: m.opcode, data: m.data })),
      });
    }
    entries.sort((a, b) => a.startedDateTime.localeCompare(b.startedDateTime));
    return { log: { version: "1.2", creator: { name: "WebInspector", version: "537.36" }, pages: [], entries } };
  }
}

async function main() {
  if (!opts.wsUrl || !opts.out) fail("usage: browser-har.mjs '{\"wsUrl\": \"ws://…\", \"out\": \"/dir\"}'");
  if (!fs.existsSync(executablePath)) fail(`no browser at ${executablePath} (apt-get install chromium)`);
  const server = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(PAGE);
  });
  await bounded(new Promise((resolve) => server.listen(0, "127.0.0.1", resolve)), "the page server");
  const pageUrl = `http://127.0.0.1:${server.address().port}/?ws=${encodeURIComponent(opts.wsUrl)}`;

  const browser = await bounded(
    chromium.launch({
      executablePath,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
    }),
    "chromium's start",
  );
  const playwrightHar = path.join(opts.out, "playwright.har");
  const devtoolsHar = path.join(opts.out, "devtools.har");
  try {
    const context = await browser.newContext({ recordHar: { path: playwrightHar, content: "embed" } });
    const page = await context.newPage();
    const devtools = new DevtoolsHar();
    const cdp = await context.newCDPSession(page);
    devtools.attach(cdp);
    await cdp.send("Network.enable");
    let reportDone;
    const done = new Promise((resolve) => (reportDone = resolve));
    await page.exposeFunction("reportDone", (report) => reportDone(report));
    await bounded(page.goto(pageUrl), "the page's load");
    const report = await bounded(done, "the page's socket to close");
    await bounded(devtools.allClosed(), "DevTools' close event");
    fs.writeFileSync(devtoolsHar, JSON.stringify(devtools.har(), null, 1));
    // recordHar writes its file when the context closes.
    await bounded(context.close(), "closing the context");
    console.log(JSON.stringify({ page: report, files: [devtoolsHar, playwrightHar] }));
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((e) => fail(e?.stack ?? String(e)));
