// The jobs view's words: each job's state as a person following a long
// import would say it, and why it failed or gave up. Pure.

import { formatDuration } from "./scale";
import type { EventOf, SocketRow } from "./types";

type Transition = EventOf<"transition">;

function detail(t: Transition | undefined): Record<string, unknown> {
  if (!t?.reason_detail) return {};
  try {
    const v = JSON.parse(t.reason_detail) as unknown;
    return v && typeof v === "object" ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const CLOSE_WORDS: Record<number, string> = {
  1000: "normal close",
  1001: "the server is going away, e.g. restarting",
  1006: "cut without a close",
  1008: "refused by policy",
  1011: "a server error",
  1012: "the server is restarting",
  4001: "the sign-in expired",
  4004: "the job no longer exists",
};

/** Why an ended job ended, in plain words; null when it simply finished. */
export function endWords(t: Transition | undefined): string | null {
  if (!t) return null;
  const d = detail(t);
  switch (t.reason) {
    case "job_finished":
      return null;
    case "user_closed":
      return "closed by you";
    case "capture_ended":
      return "the recording ended";
    case "connection_lost":
      return d.by === "us" ? "we dropped the connection" : "the connection was cut";
    case "peer_closed": {
      const code = Number(d.code);
      return `the server closed the connection (${CLOSE_WORDS[code] ?? `code ${code}`})`;
    }
    case "job_failed":
      return `the job failed on the server: ${String(d.code ?? "no reason given")}${d.retryable === true ? " (it can be run again)" : ""}`;
    case "reconnect_exhausted":
      return `gave up after ${String(d.attempts ?? "several")} tries to reconnect`;
    case "unauthorized":
      return "the server refused our sign-in (the token)";
    case "job_unknown":
      return "the server does not know this job";
    case "token_unavailable":
      return "no sign-in token could be read";
    default:
      return t.to === "Cancelled" ? "cancelled by you" : null;
  }
}

/** The job's state, in words; `now` is engine ns (for a backoff's countdown). */
export function stateWords(r: SocketRow, last: Transition | undefined, now: number): string {
  switch (r.state) {
    case "Idle":
      return "not started";
    case "Connecting":
      return r.attempts > 1 ? `reconnecting (try ${r.attempts})` : "connecting";
    case "AwaitingReady":
      return "connected, waiting for the server to start sending";
    case "Ready":
      return r.total ? "running" : "connected";
    case "Backoff": {
      const left = r.backoff_until === null ? null : Math.max(0, r.backoff_until - now);
      return `connection lost; trying again${left === null ? "" : ` in ${formatDuration(left)}`} (try ${r.attempt})`;
    }
    case "Closing":
      return "closing";
    case "Closed": {
      const why = endWords(last);
      return why === null ? "finished" : `stopped: ${why}`;
    }
    case "Failed":
      return `failed: ${endWords(last) ?? "gave up"}`;
    case "Cancelled":
      return "cancelled by you";
  }
}

/** Whether a job's end needs a reason shown: it did not simply finish. */
export function endedBadly(r: SocketRow, last: Transition | undefined): boolean {
  return r.state === "Failed" || (r.state === "Closed" && endWords(last) !== null);
}
