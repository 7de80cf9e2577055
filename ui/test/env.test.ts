import { describe, expect, it } from "vitest";
import { AXIS_H, envLineAt, envLines, layoutLanes } from "../src/layout";
import { Store } from "../src/store";
import type { UiEvent } from "../src/types";

const added = (s: number, t: number): UiEvent => ({
  id: 0,
  s,
  t,
  w: 1_700_000_000_000_000 + t / 1000,
  kind: "socket_added",
  name: `s${s}`,
  scheme: "ws",
  host: "h",
  port: 1,
  path: "/",
  adapter: "job",
  job_id: null,
  token_source: null,
});
const env = (t: number, change: string, detail: string): UiEvent => ({ id: 0, s: 0, t, w: 1_700_000_000_000_000 + t / 1000, kind: "environment", change, detail });

describe("engine-wide events (socket 0)", () => {
  it("never create a lane, and are kept in time order", () => {
    const st = new Store();
    st.add([added(1, 0), env(500, "wake", "suspended 3.000 s"), added(2, 10)]);
    st.add([env(200, "address_added", "10.0.0.2/24")]);
    expect(st.order).toEqual([1, 2]);
    expect(st.tracks.has(0)).toBe(false);
    expect(st.env.map((m) => m.change)).toEqual(["address_added", "wake"]);
    expect(st.env.map((m) => st.event(m.ev)!.t)).toEqual([200, 500]);
    // They still count for the time range the view fits.
    expect(st.tMax).toBe(500);
  });

  it("land as one vertical line per mark at its time, across every lane", () => {
    const lanes = layoutLanes([1, 2, 3]);
    const s = { t0: 1000, nsPerPx: 10, width: 800 };
    const marks = [{ t: 0 }, { t: 2000 }, { t: 2004 }, { t: 5000 }, { t: 99_999 }];
    const lines = envLines(marks, s, lanes, 10_000);
    // Off-screen marks (t 0 left of the view, t 99 999 right of it) are skipped;
    // 2004 shares 2000's pixel column.
    expect(lines.map((l) => l.index)).toEqual([1, 3]);
    expect(lines.map((l) => l.x)).toEqual([100, 400]);
    for (const l of lines) {
      expect(l.y0).toBe(AXIS_H);
      expect(l.y0).toBeLessThanOrEqual(lanes[0].y);
      expect(l.y1).toBe(lanes[2].bottom);
    }
    // A short view clips the line at its bottom; no lanes still draws a stub below the axis.
    expect(envLines(marks, s, lanes, 60)[0].y1).toBe(60);
    expect(envLines(marks, s, [], 500)[0].y1).toBeGreaterThan(AXIS_H);
  });

  it("are picked near their line, in any lane or the axis band", () => {
    const lanes = layoutLanes([1, 2]);
    const lines = envLines([{ t: 500 }], { t0: 0, nsPerPx: 1, width: 800 }, lanes, 1000);
    expect(envLineAt(lines, 503, lanes[1].barTop, 4)).toBe(0);
    expect(envLineAt(lines, 500, 5, 4)).toBe(0);
    expect(envLineAt(lines, 510, lanes[0].barTop, 4)).toBe(-1);
    expect(envLineAt(lines, 500, lanes[1].bottom + 50, 4)).toBe(-1);
  });
});

describe("removing a socket", () => {
  it("drops its lane for good; late events do not bring it back", () => {
    const st = new Store();
    st.add([added(1, 0), added(2, 5)]);
    st.removeLane(1);
    expect(st.order).toEqual([2]);
    st.add([{ id: 0, s: 1, t: 9, w: 1_700_000_000_000_000, kind: "heartbeat_answered", rtt_ns: 1 }]);
    expect(st.order).toEqual([2]);
    expect(st.eventCount).toBe(3);
  });
});
