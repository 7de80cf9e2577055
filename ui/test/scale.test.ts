import { describe, expect, it } from "vitest";
import { axisLabel, LIVE_MIN_SPAN_NS, LIVE_WINDOW_NS, MAX_NS_PER_PX, MIN_FIT_NS, MIN_NS_PER_PX, NS, fit, fitData, follow, formatClock, formatDuration, liveView, pan, pinView, shiftPx, tOf, tickStep, ticks, wallAnchor, xOf, zoomAt } from "../src/scale";
import { Store } from "../src/store";
import type { UiEvent } from "../src/types";

const s0 = { t0: 1_000_000, nsPerPx: 1000, width: 1000 };

describe("time scale", () => {
  it("measures how far a view moved in pixels, so a live view redraws only when something would move", () => {
    expect(shiftPx(s0, s0)).toBe(0);
    // A minute over 1000 px is 60 ms a pixel: 16 ms of live-follow moves it a quarter pixel.
    const minute = { t0: 0, nsPerPx: 60 * NS.ms, width: 1000 };
    const before = follow(minute, 50 * NS.s);
    expect(shiftPx(before, follow(minute, 50 * NS.s + 16 * NS.ms))).toBeCloseTo(16 / 60, 6);
    expect(shiftPx(before, follow(minute, 50 * NS.s + 60 * NS.ms))).toBeCloseTo(1, 6);
    // Zooming out by 0.1 % moves the right edge a pixel, the left none.
    expect(shiftPx(s0, { ...s0, nsPerPx: 1001 })).toBeCloseTo(1, 6);
    // A new width always redraws.
    expect(shiftPx(s0, { ...s0, width: 999 })).toBe(Number.POSITIVE_INFINITY);
  });

  it("maps time to x and back", () => {
    expect(xOf(s0, 1_000_000)).toBe(0);
    expect(xOf(s0, 1_500_000)).toBe(500);
    expect(tOf(s0, xOf(s0, 1_234_567))).toBeCloseTo(1_234_567, 6);
  });

  it("zooms around the cursor: the time under it stays put", () => {
    const t = tOf(s0, 300);
    const z = zoomAt(s0, 300, 0.25);
    expect(z.nsPerPx).toBe(250);
    expect(tOf(z, 300)).toBeCloseTo(t, 6);
    const out = zoomAt(z, 800, 8);
    expect(tOf(out, 800)).toBeCloseTo(tOf(z, 800), 6);
  });

  it("clamps zoom from hours down to a µs over a thousand pixels", () => {
    let s = s0;
    for (let i = 0; i < 100; i++) s = zoomAt(s, 10, 0.1);
    expect(s.nsPerPx).toBe(MIN_NS_PER_PX);
    expect(NS.us / s.nsPerPx).toBe(1000);
    for (let i = 0; i < 100; i++) s = zoomAt(s, 10, 10);
    expect(s.nsPerPx).toBe(MAX_NS_PER_PX);
    expect(s.nsPerPx * s.width).toBeGreaterThanOrEqual(NS.h);
  });

  it("pans by pixels", () => {
    const p = pan(s0, 100);
    expect(p.t0).toBe(s0.t0 - 100 * 1000);
    expect(xOf(p, 1_000_000)).toBe(100);
  });

  it("fits a span with margins and follows now near the right edge", () => {
    const f = fit(0, 1e9, 1032, 16);
    expect(xOf(f, 0)).toBeCloseTo(16, 6);
    expect(xOf(f, 1e9)).toBeCloseTo(1016, 6);
    const l = follow(f, 5e9, 0.9);
    expect(xOf(l, 5e9)).toBeCloseTo(1032 * 0.9, 6);
  });
});

describe("ticks", () => {
  it("steps are nice and at least the minimum apart at every zoom", () => {
    for (const nsPerPx of [1, 7, 130, 4e3, 9e5, 3e7, 1e9, 4e10, MAX_NS_PER_PX]) {
      const step = tickStep(nsPerPx, 90);
      expect(step / nsPerPx).toBeGreaterThanOrEqual(90);
      const m = step / 10 ** Math.floor(Math.log10(step));
      if (step < 10e9) expect([1, 2, 5]).toContain(Math.round(m));
    }
    expect(tickStep(1e9 / 100)).toBe(1e9);
    expect(tickStep((45 * NS.s) / 90)).toBe(NS.min);
  });

  it("ticks are aligned to the wall clock, not to mono 0", () => {
    const anchor = 1_700_000_000_123_456_789; // wall ns at mono 0
    const s = { t0: 0, nsPerPx: 1e6, width: 1000 };
    const ts = ticks(s, 100e6, anchor);
    expect(ts.length).toBeGreaterThan(5);
    for (const t of ts) expect((t + anchor) % 100e6).toBeLessThan(1e3 + 1);
    for (let i = 1; i < ts.length; i++) expect(ts[i] - ts[i - 1]).toBeCloseTo(100e6, -1);
  });

  it("labels carry the precision of the step", () => {
    const wall = Date.UTC(2024, 0, 1, 10, 42, 3) * 1e6 + 120_417_000;
    expect(formatClock(wall, NS.s, 0)).toBe("10:42:03");
    expect(formatClock(wall, NS.ms, 0)).toBe("10:42:03.120");
    expect(formatClock(wall, NS.us, 0)).toBe("10:42:03.120 417");
    expect(formatClock(wall, NS.min, 0)).toBe("10:42");
  });

  it("durations read in the right unit", () => {
    expect(formatDuration(417e3)).toBe("417 µs");
    expect(formatDuration(1.7e9)).toBe("1.7 s");
    expect(formatDuration(64e9)).toBe("1m04s");
    expect(formatDuration(3.8e9)).toBe("3.8 s");
    expect(formatDuration(500)).toBe("500 ns");
  });
});

describe("live-follow and fit", () => {
  it("fit shows the data that is there, edge to edge", () => {
    // A 300 ms scenario fills the width, not a third of a second's view.
    const f = fitData(5e9, 5.3e9, 1032);
    expect(xOf(f, 5e9)).toBeCloseTo(16, 6);
    expect(xOf(f, 5.3e9)).toBeCloseTo(1016, 6);
    // A lone event gets a short span around it, not a zero one.
    const one = fitData(7e9, 7e9, 1032);
    expect(xOf(one, 7e9)).toBeCloseTo(516, 6);
    expect(one.nsPerPx * 1000).toBeCloseTo(MIN_FIT_NS, 0);
    // Nothing yet: the second before the fallback.
    const none = fitData(Number.POSITIVE_INFINITY, 0, 1032, 9e9);
    expect(tOf(none, 1016)).toBeCloseTo(9e9, 0);
  });

  it("while the data is shorter than the window, the live view fits all of it", () => {
    // 15 s of data, a 60 s window: the first event stays in view.
    const v = liveView(1032, 1e9, 16e9, LIVE_WINDOW_NS);
    expect(xOf(v, 1e9)).toBeCloseTo(16, 6);
    expect(xOf(v, 16e9)).toBeCloseTo(1016, 6);
    // A fresh session is not zoomed in to nothing.
    const fresh = liveView(1032, 1e9, 1e9 + 1000, LIVE_WINDOW_NS);
    expect(fresh.nsPerPx * 1000).toBeCloseTo(LIVE_MIN_SPAN_NS, -3);
  });

  it("once the data is longer than the window, it follows now", () => {
    const v = liveView(1000, 0, 300e9, LIVE_WINDOW_NS, 0.92);
    expect(xOf(v, 300e9)).toBeCloseTo(920, 6);
    expect(xOf(v, 300e9 - LIVE_WINDOW_NS)).toBeCloseTo(0, 6);
    // The step from fitting to following keeps now where it was.
    const before = liveView(1000, 0, LIVE_WINDOW_NS, LIVE_WINDOW_NS);
    const after = liveView(1000, 0, LIVE_WINDOW_NS + 1, LIVE_WINDOW_NS);
    expect(Math.abs(xOf(before, LIVE_WINDOW_NS) - xOf(after, LIVE_WINDOW_NS + 1))).toBeLessThan(100);
  });

  it("a pinned finding shows what led to it, the finding at 80 %", () => {
    const p = pinView(1032, 50e9);
    expect(xOf(p, 50e9)).toBeCloseTo(16 + 800, 6);
    expect(xOf(p, 46e9)).toBeCloseTo(16, 6);
    // Early in a session: no empty time before the data's start.
    const early = pinView(1032, 50e9, 4e9, 49e9);
    expect(xOf(early, 49e9)).toBeCloseTo(16, 6);
    expect(xOf(early, 51e9)).toBeCloseTo(1016, 6);
  });
});

describe("tick labels on a real wall clock", () => {
  it("every tick sits exactly on its step and reads as a round time", () => {
    // A December 2026 event: wall µs since 1970, 5 s of mono ns.
    const store = new Store();
    const added: UiEvent = { id: 0, s: 1, t: 5_000_000_123, w: 1_796_464_123_456_789, kind: "socket_added", name: "a", scheme: "ws", host: "h", port: 1, path: "/", adapter: "job", job_id: null, token_source: null };
    store.add([added]);
    for (const [nsPerPx, step, tail] of [
      [1e6, 100e6, /\.\d00$/],
      [10e3, 1e6, /\.\d{3}$/],
      [1, 100, / \d{3} \d00$/],
    ] as const) {
      const s = { t0: 5_000_000_000, nsPerPx, width: 1200 };
      expect(tickStep(nsPerPx)).toBe(step);
      const ts = ticks(s, step, store.wallAnchorNs);
      expect(ts.length).toBeGreaterThan(5);
      for (const t of ts) {
        expect((t + store.wallAnchorNs) % step).toBe(0);
        expect(formatClock(t + store.wallAnchorNs, step, 0)).toMatch(tail);
        expect(formatClock(t + store.wallAnchorNs, 1, 0)).toMatch(step >= 1e3 ? / 000$/ : /00$/);
      }
    }
  });

  it("the anchor keeps the time of day", () => {
    const w = Date.UTC(2026, 11, 5, 14, 30, 0) * 1000 + 250_000;
    expect(formatClock(5e9 + wallAnchor(w, 5e9), NS.ms, 0)).toBe("14:30:00.250");
    expect(formatClock(wallAnchor(w, 20 * NS.h), NS.s, 0)).toBe("18:30:00");
  });
});

describe("axis labels", () => {
  it("read the wall clock with an anchor, the time from the origin without one", () => {
    const anchor = Date.UTC(2026, 11, 5, 10, 42, 3) * 1e6;
    expect(axisLabel(120 * NS.ms, anchor, NS.ms, 0)).toBe("10:42:03.120");
    // An empty session has no anchor: not a clock near 1970.
    expect(axisLabel(30.4 * NS.s, null, NS.ms, 0)).toBe(`+${formatDuration(30.4 * NS.s)}`);
    expect(axisLabel(30.4 * NS.s, null, NS.ms, 0)).not.toMatch(/^00:00/);
  });
});

