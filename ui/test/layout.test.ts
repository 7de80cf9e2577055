import { describe, expect, it } from "vitest";
import { AXIS_H, GUTTER_MAX, GUTTER_W, LANE_H, ellipsize, eta, forEachPixel, forEachSegment, gutterWidth, laneAt, layoutLanes, lowerBound, nearest } from "../src/layout";

describe("lanes", () => {
  it("stack one lane per socket below the axis, rows inside each lane in order", () => {
    const lanes = layoutLanes([7, 3, 9]);
    expect(lanes.map((l) => l.socket)).toEqual([7, 3, 9]);
    expect(lanes[0].y).toBeGreaterThanOrEqual(AXIS_H);
    for (const l of lanes) {
      expect(l.outTop).toBeLessThan(l.barTop);
      expect(l.barTop + l.barH).toBeLessThanOrEqual(l.inTop);
      expect(l.inTop + l.tickH).toBeLessThanOrEqual(l.bottom);
      expect(l.bottom - l.y).toBe(LANE_H);
    }
    for (let i = 1; i < lanes.length; i++) expect(lanes[i].y).toBeGreaterThanOrEqual(lanes[i - 1].bottom);
    expect(laneAt(lanes, lanes[1].barTop + 1)?.socket).toBe(3);
    expect(laneAt(lanes, 2)).toBeUndefined();
    expect(layoutLanes([1], 20)[0].y).toBe(lanes[0].y - 20);
  });
});

describe("searches", () => {
  it("lowerBound finds the first element at or above", () => {
    const a = [1, 3, 3, 5, 9];
    expect(lowerBound(a, a.length, 0)).toBe(0);
    expect(lowerBound(a, a.length, 3)).toBe(1);
    expect(lowerBound(a, a.length, 4)).toBe(3);
    expect(lowerBound(a, a.length, 10)).toBe(5);
    expect(lowerBound(a, 2, 10)).toBe(2);
  });

  it("forEachPixel visits at most one point per column, whatever the count", () => {
    const n = 1_000_000;
    const times = new Float64Array(n);
    for (let i = 0; i < n; i++) times[i] = i * 10;
    const s = { t0: 0, nsPerPx: (n * 10) / 800, width: 800 };
    const cols = new Set<number>();
    const visits = forEachPixel(times, n, s, (_i, x) => cols.add(Math.floor(x)));
    expect(visits).toBeLessThanOrEqual(803);
    expect(visits).toBe(cols.size);
    // Zoomed in, every point in view is visited.
    const z = { t0: 5000, nsPerPx: 1, width: 100 };
    const seen: number[] = [];
    forEachPixel(times, n, z, (i) => seen.push(i));
    expect(seen).toEqual([500, 501, 502, 503, 504, 505, 506, 507, 508, 509, 510]);
  });

  it("forEachSegment merges sub-pixel segments and clips to the view", () => {
    const starts = [0, 100, 200, 250, 251, 252, 1000];
    const s = { t0: 0, nsPerPx: 1, width: 2000 };
    const segs: [number, number, number][] = [];
    forEachSegment(starts, starts.length, 1500, s, (i, x0, x1) => segs.push([i, x0, x1]));
    expect(segs.map((x) => x[0])).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(segs[6][2]).toBe(1500);
    const coarse = { t0: 0, nsPerPx: 100, width: 20 };
    const c: number[] = [];
    const visits = forEachSegment(starts, starts.length, 1500, coarse, (i) => c.push(i));
    expect(visits).toBeLessThanOrEqual(20);
    expect(c[0]).toBe(0);
    expect(c).toContain(6);
    const late = { t0: 1100, nsPerPx: 1, width: 100 };
    const l: number[] = [];
    forEachSegment(starts, starts.length, 1500, late, (i, x0) => {
      l.push(i);
      expect(x0).toBeLessThanOrEqual(0);
    });
    expect(l).toEqual([6]);
  });

  it("nearest picks within a radius", () => {
    const t = [100, 200, 300];
    const s = { t0: 0, nsPerPx: 1, width: 400 };
    expect(nearest(t, 3, s, 203, 4)).toBe(1);
    expect(nearest(t, 3, s, 250, 4)).toBe(-1);
  });
});

describe("eta", () => {
  it("extrapolates the observed rate", () => {
    expect(eta(0, 0, 10e9, 50, 100)).toBe(10e9);
    expect(eta(0, 10, 10e9, 10, 100)).toBeNull();
    expect(eta(0, 0, 1, 100, 100)).toBe(0);
  });
});

describe("the names' column", () => {
  const mono = (t: string) => t.length * 7;
  it("is as wide as the longest name needs, within bounds", () => {
    expect(gutterWidth([])).toBe(GUTTER_W);
    expect(gutterWidth([mono("#12 resume-impossible-sync-5xx")])).toBe(30 * 7 + 14);
    expect(gutterWidth([mono("x".repeat(100))])).toBe(GUTTER_MAX);
  });
  it("names that fit are whole; longer ones end in an ellipsis within the width", () => {
    expect(ellipsize("bookshelf_scan", 200, mono)).toBe("bookshelf_scan");
    const cut = ellipsize("127.0.0.1/ws/progress?jobId=orders-and-more", 100, mono);
    expect(cut.endsWith("…")).toBe(true);
    expect(mono(cut)).toBeLessThanOrEqual(100);
    expect(mono(cut)).toBeGreaterThan(100 - 7);
  });
});

describe("drawing walks always end", () => {
  it("a degenerate scale (zero ns per pixel) still visits each point at most once", () => {
    const times = new Float64Array([10, 20, 30]);
    const seen: number[] = [];
    forEachPixel(times, 3, { t0: 10, nsPerPx: 0, width: 100 }, (i) => seen.push(i));
    expect(seen.length).toBeLessThanOrEqual(3);
  });
});
