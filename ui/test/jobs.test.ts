import { describe, expect, it } from "vitest";
import { endWords, endedBadly, stateWords } from "../src/jobs";
import type { EventOf } from "../src/types";
import { socketRow } from "./rows";

const row = socketRow;
const ended = (to: EventOf<"transition">["to"], reason: string | null, reason_detail: string | null = null): EventOf<"transition"> => ({
  id: 0,
  s: 1,
  t: 0,
  w: 0,
  kind: "transition",
  from: "Ready",
  to,
  attempt: 1,
  backoff_until_ns: null,
  close_code: null,
  close_initiator: null,
  reason,
  reason_detail,
  cause: "x",
  cause_detail: null,
  error_type: null,
});

describe("jobs in words", () => {
  it("says what a job is doing", () => {
    expect(stateWords(row({}), undefined, 0)).toBe("running");
    expect(stateWords(row({ state: "Backoff", attempt: 2, backoff_until: 3.8e9 }), undefined, 0)).toBe("connection lost; trying again in 3.8 s (try 2)");
    expect(stateWords(row({ state: "Closed" }), ended("Closed", "job_finished"), 0)).toBe("finished");
    expect(stateWords(row({ state: "Cancelled" }), undefined, 0)).toBe("cancelled by you");
  });
  it("says why a job failed or gave up, without jargon", () => {
    const gaveUp = ended("Failed", "reconnect_exhausted", '{"attempts":5}');
    expect(stateWords(row({ state: "Failed" }), gaveUp, 0)).toBe("failed: gave up after 5 tries to reconnect");
    expect(endWords(ended("Closed", "job_failed", '{"code":"disk_full","retryable":true}'))).toBe("the job failed on the server: disk_full (it can be run again)");
    expect(endWords(ended("Closed", "peer_closed", '{"code":1001}'))).toBe("the server closed the connection (the server is going away, e.g. restarting)");
    expect(endWords(ended("Failed", "unauthorized"))).toBe("the server refused our sign-in (the token)");
    expect(endedBadly(row({ state: "Closed" }), ended("Closed", "job_finished"))).toBe(false);
    expect(endedBadly(row({ state: "Failed" }), gaveUp)).toBe(true);
  });
});
