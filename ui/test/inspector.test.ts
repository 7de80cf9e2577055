import { describe, expect, it } from "vitest";
import { ALL_FRAMES, frameCells, frameMatches, frameRows, handshakeLines, sliceFor } from "../src/inspector";
import { Store } from "../src/store";
import type { EventOf, UiEvent } from "../src/types";

const W = 1_700_000_000_000_000;
let n = 0;
const frame = (s: number, over: Partial<EventOf<"frame">>): UiEvent => {
  n += 1;
  return {
    id: 0,
    s,
    t: n * 1000,
    w: W + n,
    kind: "frame",
    direction: "in",
    opcode: "text",
    size: 10,
    message_type: "job_progress",
    seq: n,
    msg_id: null,
    close_code: null,
    payload: `{"v":1,"type":"job_progress","seq":${n}}`,
    payload_truncated: false,
    ...over,
  };
};

describe("inspector filters", () => {
  const f = (over: Partial<EventOf<"frame">>) => frame(1, over) as EventOf<"frame">;
  it("direction, control frames, text and binary", () => {
    expect(frameMatches(f({ direction: "out" }), { ...ALL_FRAMES, dir: "in" })).toBe(false);
    expect(frameMatches(f({ direction: "out" }), { ...ALL_FRAMES, dir: "out" })).toBe(true);
    expect(frameMatches(f({ opcode: "ping" }), { ...ALL_FRAMES, control: false })).toBe(false);
    expect(frameMatches(f({ opcode: "close", close_code: 1001 }), { ...ALL_FRAMES, control: false })).toBe(false);
    expect(frameMatches(f({ opcode: "text" }), { ...ALL_FRAMES, control: false })).toBe(true);
    expect(frameMatches(f({ opcode: "text" }), { ...ALL_FRAMES, text: false })).toBe(false);
    expect(frameMatches(f({ opcode: "binary" }), { ...ALL_FRAMES, binary: false })).toBe(false);
  });
  it("search reads type, seq, close code and payload", () => {
    expect(frameMatches(f({ message_type: "ready_ack" }), { ...ALL_FRAMES, query: "ready_ack" })).toBe(true);
    expect(frameMatches(f({ opcode: "close", close_code: 1006 }), { ...ALL_FRAMES, query: "1006" })).toBe(true);
    expect(frameMatches(f({ payload: '{"nonce":"early-1"}' }), { ...ALL_FRAMES, query: "early-1" })).toBe(true);
    expect(frameMatches(f({ payload: "x" }), { ...ALL_FRAMES, query: "nothing" })).toBe(false);
  });
  it("cells: time, direction, opcode, size, type, seq, close code", () => {
    const c = frameCells(f({ direction: "out", opcode: "close", size: 2, message_type: null, seq: null, close_code: 1000 }), 0);
    expect(c.slice(1)).toEqual(["↑ out", "close", "2", "", "", "1000"]);
  });
});

describe("inspector rows", () => {
  it("newest first, one socket's, capped and counted", () => {
    const s = new Store();
    s.add([frame(1, { opcode: "ping" }), frame(2, {}), frame(1, {}), frame(1, { direction: "out" })]);
    const all = frameRows(s, 1, ALL_FRAMES);
    expect(all.matched).toBe(3);
    expect(all.rows).toEqual([3, 2, 0]);
    const noControl = frameRows(s, 1, { ...ALL_FRAMES, control: false });
    expect(noControl.rows).toEqual([3, 2]);
    const capped = frameRows(s, 1, ALL_FRAMES, 2);
    expect(capped.rows).toEqual([3, 2]);
    expect(capped.matched).toBe(3);
    const scanned = frameRows(s, 1, ALL_FRAMES, 10, 2);
    expect(scanned.rows).toEqual([3, 2]);
    expect(scanned.cut).toBe(true);
    expect(frameRows(s, 9, ALL_FRAMES).rows).toEqual([]);
  });
  it("frames whose details were dropped end the list", () => {
    const s = new Store({ maxEvents: 4 });
    for (let i = 0; i < 10; i++) s.add([frame(1, {})]);
    const r = frameRows(s, 1, ALL_FRAMES);
    expect(r.rows.length).toBeLessThanOrEqual(4);
    expect(r.cut).toBe(true);
  });
  it("the DOM holds only the rows in view", () => {
    expect(sliceFor(0, 180, 18, 20_000, 0)).toEqual([0, 10]);
    expect(sliceFor(18 * 1000, 180, 18, 20_000, 5)).toEqual([995, 1015]);
    expect(sliceFor(0, 180, 18, 3)).toEqual([0, 3]);
  });
});

describe("an observed upgrade", () => {
  it("is kept per socket and told with its headers", () => {
    const s = new Store();
    const upgrade: UiEvent = {
      id: 0,
      s: 1,
      t: 500,
      w: W,
      kind: "handshake",
      status: 101,
      request_headers: [["Upgrade", "websocket"], ["Authorization", "[REDACTED]"]],
      response_headers: [["Sec-WebSocket-Accept", "x="]],
    };
    s.add([frame(2, {}), upgrade, frame(1, {})]);
    expect(s.tracks.get(1)?.handshakeEv).toBe(1);
    expect(s.tracks.get(2)?.handshakeEv).toBe(-1);
    expect(handshakeLines(upgrade as EventOf<"handshake">)).toEqual([
      "upgrade answered 101",
      "  request headers:",
      "    Upgrade: websocket",
      "    Authorization: [REDACTED]",
      "  answer headers:",
      "    Sec-WebSocket-Accept: x=",
    ]);
  });
});
