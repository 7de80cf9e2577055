import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, FRAME_CLOSE, FRAME_OUT, Store } from "../src/store";
import type { UiEvent } from "../src/types";

const W = 1_700_000_000_000_000;

const frame = (s: number, t: number, payload: string | null, opcode = "text"): UiEvent => ({
  id: 0,
  s,
  t,
  w: W + t / 1000,
  kind: "frame",
  direction: t % 2 === 0 ? "in" : "out",
  opcode,
  size: payload?.length ?? 0,
  message_type: null,
  seq: null,
  msg_id: null,
  close_code: null,
  payload,
  payload_truncated: false,
});

const finding = (s: number, t: number): UiEvent => ({
  id: 0,
  s,
  t,
  w: W + t / 1000,
  kind: "finding",
  class: "seq_gap",
  side: "peer",
  severity: "warning",
  attempt: 1,
  detail: "gap",
});

/** Payload characters the store's kept events still hold. */
function heldChars(st: Store): number {
  let n = 0;
  for (let i = 0; i < st.eventCount; i++) {
    const e = st.event(i);
    if (e?.kind === "frame" && e.payload !== null) n += e.payload.length;
  }
  return n;
}

describe("store bounds", () => {
  it("keeps payloads only for each socket's newest frames", () => {
    const st = new Store({ payloadsPerSocket: 3 });
    const batch: UiEvent[] = [];
    for (let i = 0; i < 10; i++) batch.push(frame(1, i, `p1-${i}`), frame(2, i, `p2-${i}`));
    st.add(batch);
    const kept = (s: number) =>
      Array.from({ length: st.eventCount }, (_, i) => st.event(i)).flatMap((e) => (e?.kind === "frame" && e.s === s && e.payload !== null ? [e.payload] : []));
    expect(kept(1)).toEqual(["p1-7", "p1-8", "p1-9"]);
    expect(kept(2)).toEqual(["p2-7", "p2-8", "p2-9"]);
    const old = st.event(0);
    expect(old?.kind === "frame" && old.payload_dropped).toBe(true);
    expect(old?.kind === "frame" && old.size).toBe(4);
    expect(st.payloadChars).toBe(heldChars(st));
  });

  it("keeps payloads within a character budget over all sockets", () => {
    const st = new Store({ payloadChars: 10_000, payloadsPerSocket: 1_000_000 });
    const big = "x".repeat(1000);
    for (let i = 0; i < 500; i++) st.add([frame(1 + (i % 7), i, big)]);
    expect(heldChars(st)).toBeLessThanOrEqual(10_000);
    expect(heldChars(st)).toBe(st.payloadChars);
    // The newest frame kept its payload.
    const last = st.event(st.eventCount - 1);
    expect(last?.kind === "frame" && last.payload).toBe(big);
  });

  it("keeps the details of the newest events only, and their indices", () => {
    const st = new Store({ maxEvents: 100 });
    for (let i = 0; i < 1000; i++) st.add([frame(1, i, null)]);
    expect(st.eventCount).toBe(1000);
    expect(st.eventsKept).toBeLessThanOrEqual(100);
    expect(st.event(0)).toBeUndefined();
    expect(st.event(999)?.t).toBe(999);
    expect(st.event(950)?.t).toBe(950);
    // A mark still points at its own event.
    const tr = st.tracks.get(1)!;
    const lastEv = tr.frameEv[tr.frameEv.length - 1];
    expect(st.event(lastEv)?.t).toBe(999);
  });

  it("thins old frame marks and keeps the newest exact", () => {
    const st = new Store({ framesPerTrack: 1000 });
    for (let i = 0; i < 20_000; i++) st.add([frame(1, i, null, i % 100 === 99 ? "close" : "text")]);
    const tr = st.tracks.get(1)!;
    expect(tr.frameT.len).toBeLessThanOrEqual(1000);
    expect(tr.frameOut.length).toBe(tr.frameT.len);
    expect(tr.frameEv.length).toBe(tr.frameT.len);
    const times = Array.from(tr.frameT.buf.slice(0, tr.frameT.len));
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1]);
    // Older marks are sparser, but still reach back to the start.
    expect(times[0]).toBeLessThan(1000);
    expect(times.slice(-100)).toEqual(Array.from({ length: 100 }, (_, k) => 19_900 + k));
    // Flags travel with their marks.
    for (let i = 0; i < tr.frameT.len; i++) {
      const t = tr.frameT.buf[i];
      expect((tr.frameOut[i] & FRAME_CLOSE) !== 0).toBe(t % 100 === 99);
      expect((tr.frameOut[i] & FRAME_OUT) !== 0).toBe(t % 2 === 1);
    }
  });

  it("caps findings and engine-wide lines, oldest first", () => {
    const st = new Store({ marksPerTrack: 40 });
    for (let i = 0; i < 200; i++) {
      st.add([finding(1, i), { id: 0, s: 0, t: i, w: W, kind: "environment", change: "wake", detail: "" }]);
    }
    const tr = st.tracks.get(1)!;
    expect(tr.findings.length).toBeLessThanOrEqual(40);
    expect(tr.findings[tr.findings.length - 1].t).toBe(199);
    expect(st.env.length).toBeLessThanOrEqual(40);
    expect(st.env[st.env.length - 1].t).toBe(199);
    expect(st.findingsTotal).toBe(200);
  });

  it("holds a bounded amount after a million frames with payloads", () => {
    const st = new Store();
    const payload = "y".repeat(256);
    const batch: UiEvent[] = [];
    for (let i = 0; i < 1_000_000; i++) {
      batch.push(frame(1 + (i % 16), i, payload));
      if (batch.length === 10_000) st.add(batch.splice(0));
    }
    expect(st.eventCount).toBe(1_000_000);
    expect(st.eventsKept).toBeLessThanOrEqual(DEFAULT_LIMITS.maxEvents);
    expect(heldChars(st)).toBeLessThanOrEqual(DEFAULT_LIMITS.payloadChars);
    expect(heldChars(st)).toBeLessThanOrEqual(16 * DEFAULT_LIMITS.payloadsPerSocket * 256);
    let marks = 0;
    for (const tr of st.tracks.values()) marks += tr.frameT.len;
    expect(marks).toBeLessThanOrEqual(16 * DEFAULT_LIMITS.framesPerTrack);
    // A million events: a limit for a stuck run, not a figure (a loaded machine needs more than the default 5 s).
  }, 60_000);
});

describe("removed lanes", () => {
  it("a removed socket's lane, marks and findings go, and late events do not bring it back", () => {
    const s = new Store();
    s.add([frame(1, 10, "a"), finding(1, 20), frame(2, 30, "b"), finding(2, 40)]);
    expect(s.findingsTotal).toBe(2);
    s.removeLane(1);
    expect(s.order).toEqual([2]);
    expect(s.tracks.has(1)).toBe(false);
    expect(s.findingsTotal).toBe(1);
    s.add([frame(1, 50, "late"), finding(1, 60)]);
    expect(s.order).toEqual([2]);
    expect(s.tracks.has(1)).toBe(false);
    expect(s.findingsTotal).toBe(1);
  });

  it("a removed socket's event details go, its payloads leave the count, and the others' stay", () => {
    const s = new Store();
    s.add([frame(1, 10, "aaaa"), finding(1, 20), frame(2, 30, "bb"), finding(2, 40)]);
    expect(s.payloadChars).toBe(6);
    s.removeLane(1);
    expect(s.event(0)).toBeUndefined();
    expect(s.event(1)).toBeUndefined();
    expect(s.event(2)?.kind).toBe("frame");
    expect(s.event(3)?.kind).toBe("finding");
    expect(s.payloadChars).toBe(2);
    expect(heldChars(s)).toBe(2);
    // Late events keep their index and hold nothing.
    s.add([frame(1, 50, "late"), frame(2, 60, "c")]);
    expect(s.eventCount).toBe(6);
    expect(s.event(4)).toBeUndefined();
    expect(s.event(5)?.kind).toBe("frame");
    expect(s.payloadChars).toBe(3);
  });
});
