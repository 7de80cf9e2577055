// The time axis: pure math, no DOM. A scale maps engine-monotonic ns to
// canvas pixels: x = (t - t0) / nsPerPx.

export interface TimeScale {
  /** ns at x = 0. */
  t0: number;
  /** ns per CSS pixel. */
  nsPerPx: number;
  /** Width in CSS pixels of the drawable area. */
  width: number;
}

/** Deepest zoom: 1 ns per pixel, so one µs spans 1000 px. */
export const MIN_NS_PER_PX = 1;
/** Widest zoom: 24 h across 1000 px. */
export const MAX_NS_PER_PX = (24 * 3600e9) / 1000;

export const NS = { us: 1e3, ms: 1e6, s: 1e9, min: 60e9, h: 3600e9 } as const;

export function clampNsPerPx(v: number): number {
  return Math.min(MAX_NS_PER_PX, Math.max(MIN_NS_PER_PX, v));
}

export function xOf(s: TimeScale, t: number): number {
  return (t - s.t0) / s.nsPerPx;
}

export function tOf(s: TimeScale, x: number): number {
  return s.t0 + x * s.nsPerPx;
}

/** Zooms by `factor` (<1 zooms in) keeping the time under `x` fixed. */
export function zoomAt(s: TimeScale, x: number, factor: number): TimeScale {
  const anchor = tOf(s, x);
  const nsPerPx = clampNsPerPx(s.nsPerPx * factor);
  return { ...s, nsPerPx, t0: anchor - x * nsPerPx };
}

/** Drags the content right by `dx` pixels. */
export function pan(s: TimeScale, dx: number): TimeScale {
  return { ...s, t0: s.t0 - dx * s.nsPerPx };
}

/** Shows [a, b] with `padPx` of margin on each side. */
export function fit(a: number, b: number, width: number, padPx = 16): TimeScale {
  const span = Math.max(b - a, 1000);
  const usable = Math.max(width - 2 * padPx, 1);
  const nsPerPx = clampNsPerPx(span / usable);
  return { width, nsPerPx, t0: a - padPx * nsPerPx };
}

/**
 * How far, in CSS pixels, anything drawn with `a` would move if drawn with
 * `b`: the larger shift of the view's two edges. A live view redraws only
 * once this reaches a pixel, so a minute's window moves ~16 times a second,
 * not at every animation frame.
 */
export function shiftPx(a: TimeScale, b: TimeScale): number {
  if (a.width !== b.width) return Number.POSITIVE_INFINITY;
  const left = Math.abs(xOf(a, b.t0));
  const right = Math.abs(xOf(a, tOf(b, b.width)) - b.width);
  return Math.max(left, right);
}

/** Live-follow: `now` sits at `at` (a fraction of the width). */
export function follow(s: TimeScale, now: number, at = 0.92): TimeScale {
  return { ...s, t0: now - s.width * at * s.nsPerPx };
}

/** The shortest span "fit" shows: a lone event still gets a readable axis. */
export const MIN_FIT_NS = 10 * NS.ms;

/**
 * "fit": the data that is there, [tMin, tMax], edge to edge with a margin;
 * an empty store shows the second before `fallback`.
 */
export function fitData(tMin: number, tMax: number, width: number, fallback = 0): TimeScale {
  if (!Number.isFinite(tMin) || tMax < tMin) return fit(fallback - NS.s, fallback, width);
  const mid = (tMin + tMax) / 2;
  const half = Math.max(tMax - tMin, MIN_FIT_NS) / 2;
  return fit(mid - half, mid + half, width);
}

/** The live window's default: the last minute. */
export const LIVE_WINDOW_NS = 60 * NS.s;
/** While following, the view spans at least this much, so a fresh session is not zoomed to µs. */
export const LIVE_MIN_SPAN_NS = 2 * NS.s;

/**
 * Live-follow. While the data, [tMin, now], is shorter than `windowNs`,
 * the view fits all of it (so nothing that happened scrolls off the left
 * edge); once longer, it shows the last `windowNs` with now at `at`.
 */
export function liveView(width: number, tMin: number, now: number, windowNs = LIVE_WINDOW_NS, at = 0.92): TimeScale {
  const start = Number.isFinite(tMin) ? tMin : now;
  const span = now - start;
  if (span <= windowNs) return fit(start, Math.max(now, start + LIVE_MIN_SPAN_NS), width);
  const nsPerPx = clampNsPerPx(windowNs / Math.max(width * at, 1));
  return follow({ t0: 0, nsPerPx, width }, now, at);
}

/**
 * Where a pinned finding is shown: `beforeNs` of what led to it (no
 * earlier than the data's start, `tMin`) and a quarter of that after, the
 * finding at 80 % of the width when there is that much before it.
 */
export function pinView(width: number, t: number, beforeNs = 4 * NS.s, tMin = Number.NEGATIVE_INFINITY): TimeScale {
  const from = Math.max(t - beforeNs, Math.min(tMin, t - LIVE_MIN_SPAN_NS / 4));
  return fit(from, t + beforeNs / 4, width);
}

/** Centres the view on [a, b] (a finding's ±50 ms window). */
export function windowAround(s: TimeScale, a: number, b: number): TimeScale {
  return fit(a, b, s.width, 0);
}

const STEPS: number[] = (() => {
  const out: number[] = [];
  for (let e = 0; e <= 9; e++) {
    for (const m of [1, 2, 5]) out.push(m * 10 ** e);
  }
  // Clock-friendly steps above a second.
  for (const v of [10e9, 15e9, 30e9, NS.min, 2 * NS.min, 5 * NS.min, 10 * NS.min, 15 * NS.min, 30 * NS.min, NS.h, 2 * NS.h, 3 * NS.h, 6 * NS.h, 12 * NS.h, 24 * NS.h]) out.push(v);
  return [...new Set(out)].sort((a, b) => a - b);
})();

/** The smallest "nice" step (1-2-5 below 10 s, clock steps above) at least `minPx` apart. */
export function tickStep(nsPerPx: number, minPx = 90): number {
  const want = nsPerPx * minPx;
  for (const s of STEPS) if (s >= want) return s;
  return STEPS[STEPS.length - 1];
}

const DAY_NS = 24 * NS.h;
const DAY_US = DAY_NS / NS.us;

/**
 * Wall ns at mono 0 from an event's wall µs and mono ns, modulo a day. Wall
 * ns since 1970 (~1.8e18) is past a double's exact integers (2^53): sums
 * with it round to 256 ns, and tick labels read ".099 999 889" instead of
 * ".100". A day's ns (8.64e13) stays exact, and labels need only the time
 * of day.
 */
export function wallAnchor(wallUs: number, monoNs: number): number {
  const ns = (wallUs % DAY_US) * NS.us - monoNs;
  return ((ns % DAY_NS) + DAY_NS) % DAY_NS;
}

/** Tick times in view, aligned to the wall clock: `wallAnchorNs` is wall ns at mono 0 (see `wallAnchor`). */
export function ticks(s: TimeScale, step: number, wallAnchorNs = 0): number[] {
  const start = tOf(s, 0);
  const end = tOf(s, s.width);
  const wallStart = start + wallAnchorNs;
  const first = Math.ceil(wallStart / step) * step - wallAnchorNs;
  const out: number[] = [];
  for (let t = first; t <= end && out.length < 1000; t += step) out.push(t);
  return out;
}

function pad(n: number, w: number): string {
  return String(Math.floor(n)).padStart(w, "0");
}

/** A wall-clock label whose precision follows the tick step (UTC-free: local time). */
/**
 * An axis tick's label: the wall clock when the data has an anchor, else
 * the time from the view's origin (`+30.4 s`), since a clock read from no
 * anchor would show times near 1970.
 */
export function axisLabel(t: number, anchorNs: number | null, step: number, tzOffsetMin?: number): string {
  return anchorNs === null ? `+${formatDuration(t)}` : formatClock(t + anchorNs, step, tzOffsetMin);
}

export function formatClock(wallNs: number, step: number, tzOffsetMin = new Date().getTimezoneOffset()): string {
  // Whole ns: a tick at 0.999… of a unit must not read one unit early.
  const localNs = Math.round(wallNs) - tzOffsetMin * 60e9;
  const dayNs = ((localNs % DAY_NS) + DAY_NS) % DAY_NS;
  const h = dayNs / NS.h;
  const m = (dayNs % NS.h) / NS.min;
  const sec = (dayNs % NS.min) / NS.s;
  const hm = `${pad(h, 2)}:${pad(m, 2)}`;
  if (step >= NS.min) return hm;
  const hms = `${hm}:${pad(sec, 2)}`;
  if (step >= NS.s) return hms;
  const subNs = dayNs % NS.s;
  if (step >= NS.ms) return `${hms}.${pad(subNs / NS.ms, 3)}`;
  if (step >= NS.us) return `${hms}.${pad(subNs / NS.ms, 3)} ${pad((subNs % NS.ms) / NS.us, 3)}`;
  return `${hms}.${pad(subNs / NS.ms, 3)} ${pad((subNs % NS.ms) / NS.us, 3)} ${pad(subNs % NS.us, 3)}`;
}

/** A duration in the unit that reads best: 417 µs, 1.7 s, 1m04s. */
export function formatDuration(ns: number): string {
  const a = Math.abs(ns);
  const sign = ns < 0 ? "−" : "";
  if (a < NS.us) return `${sign}${Math.round(a)} ns`;
  if (a < NS.ms) return `${sign}${(a / NS.us).toFixed(a < 10 * NS.us ? 1 : 0)} µs`;
  if (a < NS.s) return `${sign}${(a / NS.ms).toFixed(a < 10 * NS.ms ? 1 : 0)} ms`;
  if (a < NS.min) return `${sign}${(a / NS.s).toFixed(1)} s`;
  if (a < NS.h) return `${sign}${Math.floor(a / NS.min)}m${pad((a % NS.min) / NS.s, 2)}s`;
  return `${sign}${Math.floor(a / NS.h)}h${pad((a % NS.h) / NS.min, 2)}m`;
}
