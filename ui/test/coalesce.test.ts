import { describe, expect, it } from "vitest";
import { ANY_FINDING, groupFindings } from "../src/findings";
import { FrameCoalescer, latestBy, mergeBatches } from "../src/coalesce";
import { Store } from "../src/store";
import type { UiEvent } from "../src/types";

function manualFrames() {
  const queue: (() => void)[] = [];
  return {
    schedule: (cb: () => void) => queue.push(cb),
    tick: () => {
      const q = queue.splice(0);
      for (const cb of q) cb();
      return q.length;
    },
    pending: () => queue.length,
  };
}

describe("frame coalescer", () => {
  it("flushes everything pushed within a frame once, in order", () => {
    const f = manualFrames();
    const flushed: number[][] = [];
    const c = new FrameCoalescer<number>((xs) => flushed.push(xs), f.schedule);
    c.push([1, 2]);
    c.push([3]);
    c.push([4, 5]);
    expect(f.pending()).toBe(1);
    expect(flushed).toEqual([]);
    expect(f.tick()).toBe(1);
    expect(flushed).toEqual([[1, 2, 3, 4, 5]]);
    expect(c.queued).toBe(0);
  });

  it("schedules nothing for an empty push and one frame per burst", () => {
    const f = manualFrames();
    let flushes = 0;
    const c = new FrameCoalescer<number>(() => flushes++, f.schedule);
    c.push([]);
    expect(f.pending()).toBe(0);
    c.push([1]);
    f.tick();
    c.push([2]);
    c.push([3]);
    f.tick();
    expect(flushes).toBe(2);
    expect(f.tick()).toBe(0);
  });

  it("merges batches: events in order, newest socket list, missed summed", () => {
    const m = mergeBatches([
      { now: 5, events: ["a"], missed: 1, sockets: [{ id: 1, v: 1 }] },
      { now: 9, events: ["b", "c"], missed: 0, sockets: null },
      { now: 7, events: [], missed: 2, sockets: [{ id: 1, v: 2 }] },
    ]);
    expect(m).toEqual({ now: 9, events: ["a", "b", "c"], missed: 3, sockets: [{ id: 1, v: 2 }] });
  });

  it("latestBy keeps the newest per key", () => {
    const xs = [
      { id: 1, s: "a" },
      { id: 2, s: "b" },
      { id: 1, s: "c" },
    ];
    expect(latestBy(xs, (x) => x.id)).toEqual([
      { id: 2, s: "b" },
      { id: 1, s: "c" },
    ]);
  });
});

const base = { id: 0, w: 1_700_000_000_000_000 };
describe("store", () => {
  it("builds segments, frames, arrows and findings per socket", () => {
    const st = new Store();
    const evs: UiEvent[] = [
      { ...base, s: 1, t: 0, kind: "socket_added", name: "csv", scheme: "ws", host: "h", port: 1, path: "/", adapter: "job", job_id: null, token_source: null },
      { ...base, s: 1, t: 10, kind: "transition", from: "Idle", to: "Connecting", attempt: 1, backoff_until_ns: null, close_code: null, close_initiator: null, reason: null, reason_detail: null, cause: "start", cause_detail: null, error_type: null },
      { ...base, s: 1, t: 12, kind: "message", msg_id: 1, stage: "queued", depth: 1, drop_reason: null },
      { ...base, s: 1, t: 12, kind: "finding", class: "send_before_ready_queued", side: "prevented", severity: "info", attempt: 1, detail: '{"detail":"waited"}' },
      { ...base, s: 1, t: 30, kind: "transition", from: "Connecting", to: "Ready", attempt: 1, backoff_until_ns: null, close_code: null, close_initiator: null, reason: null, reason_detail: null, cause: "ready_ack", cause_detail: "0", error_type: null },
      { ...base, s: 1, t: 31, kind: "message", msg_id: 1, stage: "written", depth: null, drop_reason: null },
      { ...base, s: 1, t: 31, kind: "frame", direction: "out", opcode: "text", size: 10, message_type: "ping", seq: null, msg_id: 1, close_code: null, payload: null, payload_truncated: false },
    ];
    st.add(evs);
    const tr = st.tracks.get(1)!;
    expect(tr.name).toBe("csv");
    expect(Array.from(tr.segStart.buf.slice(0, tr.segStart.len))).toEqual([0, 10, 30]);
    expect(tr.state).toBe("Ready");
    expect(tr.frameT.len).toBe(1);
    expect(tr.arrows).toEqual([{ msg: 1, queued: 12, written: 31, dropped: false }]);
    expect(st.findingsTotal).toBe(1);
    expect(groupFindings(st, ANY_FINDING, [])[0].cls).toBe("send_before_ready_queued");
    expect(st.version).toBe(1);
  });
});
