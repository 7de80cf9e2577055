// A job progress subscription on the reference graphql-ws server (npm
// `graphql-ws` over `ws`), for the graphql-ws dialect's tests. Prints
// `LISTENING <port>` when ready. Options as JSON in argv[2]:
//   token        the token `connection_init`'s payload must carry
//   total        items in the job (default 20)
//   intervalMs   time between items (default 10)
//   ackDelayMs   onConnect awaits this long before connection_ack: the
//                not-ready window (default 0)
//   failAfter    the subscription errors after this many items
// Commands on stdin: `drop` ends every client's transport abruptly.
import { EventEmitter, once } from "node:events";
import { createInterface } from "node:readline";
import { GraphQLError, buildSchema } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { WebSocketServer } from "ws";

const opts = JSON.parse(process.argv[2] ?? "{}");
const total = opts.total ?? 20;
const schema = buildSchema(`
  type Query { ok: Boolean }
  type Progress { processed: Int!, total: Int! }
  type Subscription { progress(jobId: String!): Progress! }
`);

// The job runs once, whoever watches; a resubscribe picks it up where it is.
const ticks = new EventEmitter();
ticks.setMaxListeners(0);
let processed = 0;
const timer = setInterval(() => {
  if (processed >= total) return;
  processed += 1;
  ticks.emit("tick");
}, opts.intervalMs ?? 10);

const root = {
  progress: async function* () {
    while (true) {
      if (opts.failAfter !== undefined && processed >= opts.failAfter) {
        // A field error: the server sends `next` with `errors`, as a
        // resolver that fails does.
        yield {
          progress: () => {
            throw new GraphQLError("the import failed", { extensions: { code: "E_IMPORT" } });
          },
        };
        return;
      }
      yield { progress: { processed, total } };
      if (processed >= total) return;
      await once(ticks, "tick");
    }
  },
};

const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
useServer(
  {
    schema,
    roots: { subscription: root },
    onConnect: async (ctx) => {
      if (opts.ackDelayMs) await new Promise((r) => setTimeout(r, opts.ackDelayMs));
      if (opts.token !== undefined && ctx.connectionParams?.token !== opts.token) return false;
      process.stdout.write("CONNECTED\n");
      return true;
    },
    onSubscribe: () => { process.stdout.write("SUBSCRIBED\n"); },
  },
  wss,
);

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "drop") {
    for (const client of wss.clients) client.terminate();
    process.stdout.write("DROPPED\n");
  }
});

wss.on("listening", () => {
  process.stdout.write(`LISTENING ${wss.address().port}\n`);
});
