// Live events arrive in batches from Rust (already ~60/s); several may land
// within one animation frame. The coalescer merges them so the store and
// the canvas update once per frame.

export type Schedule = (cb: () => void) => void;

export class FrameCoalescer<T> {
  private pending: T[] = [];
  private scheduled = false;
  private readonly schedule: Schedule;
  private readonly flush: (items: T[]) => void;

  constructor(flush: (items: T[]) => void, schedule?: Schedule) {
    this.flush = flush;
    this.schedule = schedule ?? ((cb) => requestAnimationFrame(() => cb()));
  }

  push(items: readonly T[]): void {
    for (const it of items) this.pending.push(it);
    if (!this.scheduled && this.pending.length > 0) {
      this.scheduled = true;
      this.schedule(() => this.run());
    }
  }

  get queued(): number {
    return this.pending.length;
  }

  private run(): void {
    this.scheduled = false;
    const items = this.pending;
    this.pending = [];
    if (items.length > 0) this.flush(items);
  }
}

/** Merges snapshots by key, the last one winning, in first-seen order. */
export function latestBy<T, K>(items: readonly T[], key: (t: T) => K): T[] {
  const m = new Map<K, T>();
  for (const it of items) {
    const k = key(it);
    if (m.has(k)) m.delete(k);
    m.set(k, it);
  }
  return [...m.values()];
}

/** Merges live batches: events concatenated in order, the newest socket list, missed summed. */
export function mergeBatches<E, S>(batches: readonly { now: number; events: E[]; missed: number; sockets: S[] | null }[]): {
  now: number;
  events: E[];
  missed: number;
  sockets: S[] | null;
} {
  let now = 0;
  let missed = 0;
  let sockets: S[] | null = null;
  const events: E[] = [];
  for (const b of batches) {
    now = Math.max(now, b.now);
    missed += b.missed;
    if (b.sockets) sockets = b.sockets;
    for (const e of b.events) events.push(e);
  }
  return { now, events, missed, sockets };
}
