// A socket row for tests: a job socket in Ready, 10 of 100 done, with `over` on top.
import type { SocketRow } from "../src/types";

export const socketRow = (over: Partial<SocketRow>): SocketRow => ({
  id: 1,
  name: "csv_import",
  adapter: "job",
  job_id: "j",
  state: "Ready",
  attempt: 1,
  attempts: 1,
  backoff_until: null,
  processed: 10,
  total: 100,
  findings: 0,
  rtt_ms: null,
  ...over,
});
