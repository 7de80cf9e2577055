// What the timeline draws, per socket, in columnar arrays that grow in
// place: 1M events cost typed arrays, not 1M re-sorts.

import { ENGINE_WIDE, type EventOf, type StateName, type UiEvent } from "./types";

export class NumList {
  buf: Float64Array;
  len = 0;
  constructor(cap = 64) {
    this.buf = new Float64Array(cap);
  }
  push(v: number): void {
    if (this.len === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.len++] = v;
  }
  last(): number | undefined {
    return this.len > 0 ? this.buf[this.len - 1] : undefined;
  }
}

export const STATE_CODES: StateName[] = ["Idle", "Connecting", "AwaitingReady", "Ready", "Backoff", "Closing", "Closed", "Failed", "Cancelled"];
const CODE = new Map(STATE_CODES.map((s, i) => [s, i]));

export interface FindingMark {
  t: number;
  ev: number;
  cls: string;
  side: "prevented" | "peer" | "network";
  severity: "info" | "warning" | "error";
}

/** An engine-wide change (network, sleep/wake): a line across every lane. */
export interface EnvMark {
  t: number;
  ev: number;
  change: string;
  detail: string;
}

export interface Arrow {
  msg: number;
  queued: number;
  /** When it was written, or dropped; null while queued. */
  written: number | null;
  dropped: boolean;
}

export interface BackoffMark {
  t: number;
  delay: number;
}

export interface SyncSpan {
  t: number;
  end: number | null;
  ok: boolean | null;
}

export class Track {
  readonly socket: number;
  name: string;
  /** State segments: start times and state codes; the last runs to "now". */
  segStart = new NumList();
  segState: number[] = [];
  segEv: number[] = [];
  /** Frames: time, direction (1 = out, 0 = in) and event index. */
  frameT = new NumList(256);
  frameOut: number[] = [];
  frameEv: number[] = [];
  findings: FindingMark[] = [];
  arrows: Arrow[] = [];
  backoffs: BackoffMark[] = [];
  syncs: SyncSpan[] = [];
  progressFirst: { t: number; done: number } | null = null;
  progress: { t: number; done: number; total: number; status: string | null } | null = null;
  lastT = 0;

  constructor(socket: number, name: string) {
    this.socket = socket;
    this.name = name;
  }

  get state(): StateName {
    const c = this.segState[this.segState.length - 1];
    return c === undefined ? "Idle" : STATE_CODES[c];
  }
}

/** Where an event sits: the global event list is the source for details. */
export class Store {
  readonly events: UiEvent[] = [];
  readonly tracks = new Map<number, Track>();
  readonly order: number[] = [];
  findingsTotal = 0;
  /** Engine-wide changes, in time order; they belong to no lane. */
  readonly env: EnvMark[] = [];
  tMin = Number.POSITIVE_INFINITY;
  tMax = 0;
  /** Wall ns at mono 0, from the first event (wall µs · 1000 − mono ns). */
  wallAnchorNs = 0;
  /** Bumped on every change, so views can skip redraws. */
  version = 0;

  track(socket: number): Track {
    let tr = this.tracks.get(socket);
    if (!tr) {
      tr = new Track(socket, `socket ${socket}`);
      this.tracks.set(socket, tr);
      this.order.push(socket);
    }
    return tr;
  }

  /**
   * Drops a removed socket's lane. Its events stay (history, details); the
   * track stays in `tracks`, so late events for it never bring the lane back.
   */
  removeLane(socket: number): void {
    const i = this.order.indexOf(socket);
    if (i < 0) return;
    this.order.splice(i, 1);
    this.version++;
  }

  add(events: readonly UiEvent[]): void {
    for (const e of events) this.addOne(e);
    if (events.length > 0) this.version++;
  }

  private addOne(e: UiEvent): void {
    const ev = this.events.length;
    this.events.push(e);
    if (this.wallAnchorNs === 0) this.wallAnchorNs = e.w * 1000 - e.t;
    if (e.t < this.tMin) this.tMin = e.t;
    if (e.t > this.tMax) this.tMax = e.t;
    if (e.s === ENGINE_WIDE || e.kind === "environment") {
      // Socket 0 is the engine itself: no lane, a line across all of them.
      if (e.kind === "environment") this.addEnv({ t: e.t, ev, change: e.change, detail: e.detail });
      return;
    }
    const tr = this.track(e.s);
    // Live events per socket come in order; clamp so binary searches hold.
    const t = Math.max(e.t, tr.lastT);
    tr.lastT = t;
    switch (e.kind) {
      case "socket_added":
        tr.name = e.name;
        if (tr.segState.length === 0) this.pushSeg(tr, t, "Idle", ev);
        break;
      case "transition":
        this.pushSeg(tr, t, e.to, ev);
        break;
      case "frame":
        tr.frameT.push(t);
        tr.frameOut.push(e.direction === "out" ? 1 : 0);
        tr.frameEv.push(ev);
        break;
      case "finding":
        tr.findings.push({ t, ev, cls: e.class, side: e.side, severity: e.severity });
        this.findingsTotal++;
        break;
      case "message":
        this.message(tr, t, e);
        break;
      case "backoff_planned":
        tr.backoffs.push({ t, delay: e.delay_ns });
        break;
      case "state_sync":
        this.sync(tr, t, e);
        break;
      case "progress":
        if (!tr.progressFirst) tr.progressFirst = { t, done: e.processed };
        tr.progress = { t, done: e.processed, total: e.total, status: e.status };
        break;
      case "heartbeat_answered":
        break;
    }
  }

  private addEnv(m: EnvMark): void {
    // History pages and live batches each come in time order; keep the
    // list sorted even where they meet.
    let i = this.env.length;
    while (i > 0 && this.env[i - 1].t > m.t) i--;
    this.env.splice(i, 0, m);
  }

  private pushSeg(tr: Track, t: number, state: StateName, ev: number): void {
    tr.segStart.push(t);
    tr.segState.push(CODE.get(state) ?? 0);
    tr.segEv.push(ev);
  }

  private message(tr: Track, t: number, e: EventOf<"message">): void {
    if (e.stage === "queued") {
      tr.arrows.push({ msg: e.msg_id, queued: t, written: null, dropped: false });
      return;
    }
    // Only queued messages draw an arrow; search the recent open ones.
    // Written or dropped, the arrow ends here.
    for (let i = tr.arrows.length - 1; i >= Math.max(0, tr.arrows.length - 256); i--) {
      const a = tr.arrows[i];
      if (a.msg === e.msg_id && a.written === null) {
        a.written = t;
        a.dropped = e.stage === "dropped";
        return;
      }
    }
  }

  private sync(tr: Track, t: number, e: EventOf<"state_sync">): void {
    if (e.outcome === "requested") {
      tr.syncs.push({ t, end: null, ok: null });
      return;
    }
    const open = tr.syncs[tr.syncs.length - 1];
    const ok = e.outcome === "synced";
    if (open && open.end === null) {
      open.end = t;
      open.ok = ok;
    } else {
      tr.syncs.push({ t, end: t, ok });
    }
  }

  /** Findings grouped by class, most first. */
  findingsByClass(): [string, { socket: number; mark: FindingMark }[]][] {
    const groups = new Map<string, { socket: number; mark: FindingMark }[]>();
    for (const s of this.order) {
      for (const m of this.tracks.get(s)!.findings) {
        const g = groups.get(m.cls) ?? [];
        g.push({ socket: s, mark: m });
        groups.set(m.cls, g);
      }
    }
    for (const g of groups.values()) g.sort((a, b) => a.mark.t - b.mark.t);
    return [...groups.entries()].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]));
  }
}
