// Lane geometry and the searches that keep drawing proportional to pixels,
// not to events. Pure: no DOM.

import { type TimeScale, xOf, tOf } from "./scale";

export const AXIS_H = 26;
/** The names' column: at least this wide, and at most GUTTER_MAX. */
export const GUTTER_W = 96;
export const GUTTER_MAX = 280;
export const LANE_H = 46;
export const LANE_GAP = 6;

export interface Lane {
  socket: number;
  /** Top of the lane. */
  y: number;
  /** Out-frame ticks: [outTop, barTop). */
  outTop: number;
  barTop: number;
  barH: number;
  /** In-frame ticks: [inTop, inTop + tickH). */
  inTop: number;
  tickH: number;
  bottom: number;
}

/** One lane per socket, in list order, below the axis; `scrollY` scrolls lanes only. */
export function layoutLanes(sockets: readonly number[], scrollY = 0): Lane[] {
  const tickH = 10;
  const barH = LANE_H - 2 * tickH - 4;
  return sockets.map((socket, i) => {
    const y = AXIS_H + LANE_GAP + i * (LANE_H + LANE_GAP) - scrollY;
    const outTop = y;
    const barTop = y + tickH + 2;
    return { socket, y, outTop, barTop, barH, inTop: barTop + barH + 2, tickH, bottom: y + LANE_H };
  });
}

export function laneAt(lanes: readonly Lane[], y: number): Lane | undefined {
  return lanes.find((l) => y >= l.y && y < l.bottom);
}

/** First index i in sorted `a[0..len)` with a[i] >= v. */
export function lowerBound(a: ArrayLike<number>, len: number, v: number): number {
  let lo = 0;
  let hi = len;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Visits at most one point per pixel column: after a point at column c it
 * binary-searches to the first point past c. Drawing 1M frames therefore
 * costs O(width · log n), whatever the zoom. `fn` gets the index and its x.
 */
export function forEachPixel(
  times: ArrayLike<number>,
  len: number,
  s: TimeScale,
  fn: (index: number, x: number) => void,
): number {
  let i = lowerBound(times, len, tOf(s, -1));
  const end = tOf(s, s.width + 1);
  let visits = 0;
  while (i < len && times[i] <= end) {
    const x = xOf(s, times[i]);
    fn(i, x);
    visits++;
    const col = Math.floor(x);
    // Always past i, whatever the scale holds (a NaN column would loop forever).
    i = Math.max(i + 1, lowerBound(times, len, tOf(s, col + 1)));
  }
  return visits;
}

/**
 * Segments [starts[i], starts[i+1]) (the last one ends at `end`) reduced to
 * at most one per pixel: a run of sub-pixel segments draws as the state that
 * covers the column's start. `fn(i, x0, x1)`.
 */
export function forEachSegment(
  starts: ArrayLike<number>,
  len: number,
  end: number,
  s: TimeScale,
  fn: (index: number, x0: number, x1: number) => void,
): number {
  if (len === 0) return 0;
  const tLeft = tOf(s, 0);
  const tRight = tOf(s, s.width);
  let i = Math.max(0, lowerBound(starts, len, tLeft) - 1);
  let visits = 0;
  while (i < len && starts[i] <= tRight) {
    const segEnd = i + 1 < len ? starts[i + 1] : end;
    const x0 = Math.max(xOf(s, starts[i]), -1);
    let x1 = Math.min(xOf(s, segEnd), s.width + 1);
    let next = i + 1;
    if (x1 - x0 < 1) {
      // Sub-pixel: fill to the end of this column, skip what it hides.
      const colEnd = Math.floor(x0) + 1;
      x1 = colEnd;
      next = Math.max(i + 1, lowerBound(starts, len, tOf(s, colEnd)) - 1);
      if (next <= i) next = i + 1;
    }
    if (x1 > x0) {
      fn(i, x0, x1);
      visits++;
    }
    i = next;
  }
  return visits;
}

/** Nearest point to x within `radiusPx`, by index; -1 if none. */
export function nearest(times: ArrayLike<number>, len: number, s: TimeScale, x: number, radiusPx: number): number {
  const t = tOf(s, x);
  const i = lowerBound(times, len, t);
  let best = -1;
  let bestD = radiusPx;
  for (const j of [i - 1, i]) {
    if (j < 0 || j >= len) continue;
    const d = Math.abs(xOf(s, times[j]) - x);
    if (d <= bestD) {
      best = j;
      bestD = d;
    }
  }
  return best;
}

/** Estimated time left from a progress rate: (total - done) / rate, or null. */
export function eta(firstT: number, firstDone: number, lastT: number, done: number, total: number): number | null {
  if (total <= 0 || done >= total) return done >= total && total > 0 ? 0 : null;
  const dt = lastT - firstT;
  const dd = done - firstDone;
  if (dt <= 0 || dd <= 0) return null;
  return ((total - done) * dt) / dd;
}

/** A machine-wide change as drawn: a vertical line over every lane. */
export interface EnvLine {
  /** Index into the marks passed in. */
  index: number;
  x: number;
  /** From the axis' bottom to the last lane's bottom (or the view's bottom). */
  y0: number;
  y1: number;
}

/**
 * Where engine-wide events land: one vertical line per visible mark, at its
 * time, across all lanes (no lane of its own). Marks are sorted by `t`; at
 * most one line per pixel column, so a burst of address changes stays cheap.
 */
export function envLines(marks: readonly { t: number }[], s: TimeScale, lanes: readonly Lane[], viewH: number): EnvLine[] {
  const out: EnvLine[] = [];
  const y0 = AXIS_H;
  const last = lanes.length > 0 ? lanes[lanes.length - 1].bottom : AXIS_H + LANE_GAP;
  const y1 = Math.max(y0, Math.min(viewH, last));
  const tLeft = tOf(s, -1);
  const tRight = tOf(s, s.width + 1);
  let lastCol = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < marks.length; i++) {
    const t = marks[i].t;
    if (t < tLeft) continue;
    if (t > tRight) break;
    const x = xOf(s, t);
    const col = Math.floor(x);
    if (col === lastCol) continue;
    lastCol = col;
    out.push({ index: i, x, y0, y1 });
  }
  return out;
}

/** The line nearest to x within `radiusPx` whose span holds y; -1 if none. */
export function envLineAt(lines: readonly EnvLine[], x: number, y: number, radiusPx: number): number {
  let best = -1;
  let bestD = radiusPx;
  for (const l of lines) {
    // The axis band holds the line's glyph: it picks too.
    if (y < 0 || y > l.y1) continue;
    const d = Math.abs(l.x - x);
    if (d <= bestD) {
      best = l.index;
      bestD = d;
    }
  }
  return best;
}

/** The names' column for names this wide (px): the longest fits, within [GUTTER_W, GUTTER_MAX]. */
export function gutterWidth(nameWidths: readonly number[], pad = 14): number {
  const widest = nameWidths.reduce((a, b) => Math.max(a, b), 0);
  return Math.min(GUTTER_MAX, Math.max(GUTTER_W, Math.ceil(widest + pad)));
}

/** `text`, cut with an ellipsis to fit `maxPx` as `measure` measures it. */
export function ellipsize(text: string, maxPx: number, measure: (t: string) => number): string {
  if (measure(text) <= maxPx) return text;
  let lo = 0;
  let hi = text.length;
  // The longest prefix that fits with the ellipsis.
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (measure(`${text.slice(0, mid)}…`) <= maxPx) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo)}…`;
}
