// The findings view's logic: findings grouped by class with counts and
// their worst severity, each naming the catalog race it is (its seed),
// filtered by socket and side. Pure: the caller renders.

import type { FindingMark, Store } from "./store";
import type { ScenarioRow } from "./types";

export type Side = FindingMark["side"];

export interface FindingFilter {
  /** One socket's, or every socket's (null). */
  socket: number | null;
  side: Side | null;
}

export const ANY_FINDING: FindingFilter = { socket: null, side: null };

/** The race of the catalog a finding is an instance of. */
export interface RaceRef {
  scenario: string;
  seed: string;
  race: string;
}

export interface FindingItem {
  socket: number;
  mark: FindingMark;
  race: RaceRef | null;
}

export interface FindingGroup {
  cls: string;
  side: Side;
  /** The worst severity in the group. */
  severity: FindingMark["severity"];
  count: number;
  /** Oldest first, at most `maxItems`. */
  items: FindingItem[];
}

const RANK = { error: 2, warning: 1, info: 0 } as const;

/**
 * The catalog race behind a finding: the one its socket is named after
 * (the demo names each job after the race it plays) if that race expects
 * this class, else the first race in the catalog that does.
 */
export function raceFor(cls: string, socketName: string, catalog: readonly ScenarioRow[]): RaceRef | null {
  const named = catalog.find((s) => socketName.split(/\s+/).includes(s.id) && s.expected.includes(cls));
  const hit = named ?? catalog.find((s) => s.expected.includes(cls));
  return hit ? { scenario: hit.id, seed: hit.seed, race: hit.race } : null;
}

/** One line naming a finding's source race. */
export function raceLine(r: RaceRef | null): string {
  return r ? `seed ${r.seed} · ${r.scenario}: ${r.race}` : "no catalog race (a class of its own)";
}

/** Findings of the lanes on view that pass `f`, by class: errors first, then the most frequent. */
export function groupFindings(store: Store, f: FindingFilter, catalog: readonly ScenarioRow[], maxItems = 200): FindingGroup[] {
  const groups = new Map<string, FindingGroup>();
  for (const socket of store.order) {
    if (f.socket !== null && socket !== f.socket) continue;
    const tr = store.tracks.get(socket);
    if (!tr) continue;
    for (const mark of tr.findings) {
      if (f.side !== null && mark.side !== f.side) continue;
      let g = groups.get(mark.cls);
      if (!g) {
        g = { cls: mark.cls, side: mark.side, severity: mark.severity, count: 0, items: [] };
        groups.set(mark.cls, g);
      }
      g.count++;
      if (RANK[mark.severity] > RANK[g.severity]) g.severity = mark.severity;
      g.items.push({ socket, mark, race: null });
    }
  }
  for (const g of groups.values()) {
    g.items.sort((a, b) => a.mark.t - b.mark.t);
    // The newest stay when a group is long: they are what just happened.
    if (g.items.length > maxItems) g.items = g.items.slice(g.items.length - maxItems);
    // Named only for the items kept: a long session has many more.
    for (const it of g.items) it.race = raceFor(it.mark.cls, store.tracks.get(it.socket)?.name ?? "", catalog);
  }
  return [...groups.values()].sort((a, b) => RANK[b.severity] - RANK[a.severity] || b.count - a.count || a.cls.localeCompare(b.cls));
}

/** How long a pin the window made holds the view. */
export const PIN_HOLD_MS = 10_000;

/**
 * Whether a pin the window made (at `pinnedAt`, ms; 0: none) moves on to the
 * newest finding now: after {@link PIN_HOLD_MS}, or at once when its lane has
 * left, unless the user has touched the view since (`touchedAt`). A long demo
 * then keeps a recent race in view, not the first one's empty lanes.
 */
export function pinMovesOn(pinnedAt: number, touchedAt: number, now: number, laneKept: boolean): boolean {
  return pinnedAt > 0 && touchedAt < pinnedAt && (now - pinnedAt > PIN_HOLD_MS || !laneKept);
}
