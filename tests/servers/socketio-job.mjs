// A job progress server on the reference Socket.IO server (npm `socket.io`),
// for the socketio dialect's tests. Prints `LISTENING <port>` when ready.
// Its options come as JSON in argv[2]:
//   token          the token the auth middleware wants in `auth.token`
//   total          items in the job (default 20)
//   intervalMs     time between items (default 10)
//   ackDelayMs     the namespace middleware awaits this long before it lets
//                  the socket in: the not-ready window (default 0)
//   failAfter      emit `failed` after this many items
//   pingIntervalMs, pingTimeoutMs   Engine.IO heartbeat (defaults 300, 200)
// Commands on stdin, one per line:
//   drop    end every client's transport abruptly (TCP reset, no close)
//   stall   stop the process's event loop answering: SIGSTOP is sent by the
//           test instead, so nothing to do here
//   start   start the job (it also starts on the first connection)
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { runJob } from "./job.mjs";
import { Server } from "socket.io";

const opts = JSON.parse(process.argv[2] ?? "{}");
const http = createServer();
const io = new Server(http, {
  transports: ["websocket"],
  pingInterval: opts.pingIntervalMs ?? 300,
  pingTimeout: opts.pingTimeoutMs ?? 200,
  connectionStateRecovery: { maxDisconnectionDuration: 60_000, skipMiddlewares: true },
});

io.use(async (socket, next) => {
  if (opts.token !== undefined && socket.handshake.auth?.token !== opts.token) {
    return next(new Error("invalid token"));
  }
  if (opts.ackDelayMs) await new Promise((r) => setTimeout(r, opts.ackDelayMs));
  next();
});

let started = false;
function startJob() {
  if (started) return;
  started = true;
  runJob(opts, (event, payload) => io.to("job").emit(event, payload));
}

io.on("connection", (socket) => {
  socket.join("job");
  // What the client sent before the ack is seen here, in order.
  socket.onAny((event, ...args) => process.stdout.write(`EVENT ${event} ${JSON.stringify(args)}\n`));
  process.stdout.write(`CONNECTED recovered=${socket.recovered}\n`);
  startJob();
});

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "drop") {
    for (const [, socket] of io.of("/").sockets) {
      socket.conn.transport.socket.terminate();
    }
    process.stdout.write("DROPPED\n");
  } else if (line === "start") {
    startJob();
  }
});

http.listen(0, "127.0.0.1", () => {
  process.stdout.write(`LISTENING ${http.address().port}\n`);
});
