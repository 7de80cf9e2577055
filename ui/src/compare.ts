// Two sessions side by side, before and after a fix: time in each state,
// findings by class, and socket by socket (matched by name). Pure.

import { STATE_CODES, type Store } from "./store";

export interface Pair {
  key: string;
  a: number;
  b: number;
}

export interface StatePair {
  state: string;
  /** Entries into the state. */
  a: number;
  b: number;
  /** Time spent in it, ns, over all lanes. */
  aNs: number;
  bNs: number;
}

export interface SocketPair {
  name: string;
  /** Findings on the socket's lane, or null when the session has no such lane. */
  a: number | null;
  b: number | null;
  aEnd: string | null;
  bEnd: string | null;
}

export interface Comparison {
  events: Pair;
  lanes: Pair;
  states: StatePair[];
  findings: Pair[];
  sockets: SocketPair[];
}

function stateTimes(s: Store): { count: number[]; ns: number[] } {
  const count = STATE_CODES.map(() => 0);
  const ns = STATE_CODES.map(() => 0);
  for (const id of s.order) {
    const tr = s.tracks.get(id);
    if (!tr) continue;
    const n = tr.segStart.len;
    for (let i = 0; i < n; i++) {
      const code = tr.segState[i];
      const end = i + 1 < n ? tr.segStart.buf[i + 1] : Math.max(tr.lastT, tr.segStart.buf[i]);
      count[code]++;
      ns[code] += end - tr.segStart.buf[i];
    }
  }
  return { count, ns };
}

function findingCounts(s: Store): Map<string, number> {
  const m = new Map<string, number>();
  for (const id of s.order) for (const f of s.tracks.get(id)?.findings ?? []) m.set(f.cls, (m.get(f.cls) ?? 0) + 1);
  return m;
}

function lanesByName(s: Store): Map<string, { findings: number; end: string }> {
  const m = new Map<string, { findings: number; end: string }>();
  for (const id of s.order) {
    const tr = s.tracks.get(id);
    if (!tr) continue;
    // Two lanes of one name (a reconnect seen as two connections) add up.
    const had = m.get(tr.name);
    m.set(tr.name, { findings: (had?.findings ?? 0) + tr.findings.length, end: tr.state });
  }
  return m;
}

/** `a` is before, `b` after. States never entered in either are left out. */
export function compareStores(a: Store, b: Store): Comparison {
  const ta = stateTimes(a);
  const tb = stateTimes(b);
  const states: StatePair[] = [];
  STATE_CODES.forEach((state, i) => {
    if (state === "Idle" || (ta.count[i] === 0 && tb.count[i] === 0)) return;
    states.push({ state, a: ta.count[i], b: tb.count[i], aNs: ta.ns[i], bNs: tb.ns[i] });
  });
  const fa = findingCounts(a);
  const fb = findingCounts(b);
  const classes = [...new Set([...fa.keys(), ...fb.keys()])].sort();
  const findings = classes
    .map((key) => ({ key, a: fa.get(key) ?? 0, b: fb.get(key) ?? 0 }))
    .sort((x, y) => Math.abs(y.b - y.a) - Math.abs(x.b - x.a) || x.key.localeCompare(y.key));
  const la = lanesByName(a);
  const lb = lanesByName(b);
  const names = [...new Set([...la.keys(), ...lb.keys()])];
  const sockets = names.map((name) => ({
    name,
    a: la.get(name)?.findings ?? null,
    b: lb.get(name)?.findings ?? null,
    aEnd: la.get(name)?.end ?? null,
    bEnd: lb.get(name)?.end ?? null,
  }));
  return {
    events: { key: "events", a: a.eventCount, b: b.eventCount },
    lanes: { key: "lanes", a: a.order.length, b: b.order.length },
    states,
    findings,
    sockets,
  };
}

/** A change in words: "−3", "+1", "=". */
export function delta(a: number, b: number): string {
  const d = b - a;
  return d === 0 ? "=" : d > 0 ? `+${d}` : `−${-d}`;
}
