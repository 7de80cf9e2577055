// What the timeline draws, per socket, in columnar arrays that grow in
// place: 1M events cost typed arrays, not 1M re-sorts. Everything is
// bounded (StoreLimits): event details, payloads, frame marks and the
// other marks each have a limit, and the oldest go first.

import { ENGINE_WIDE, type EventOf, type StateName, type UiEvent, unhandled } from "./types";
import { wallAnchor } from "./scale";

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
  /** Drops the first `n` values. */
  dropFront(n: number): void {
    n = Math.min(n, this.len);
    this.buf.copyWithin(0, n, this.len);
    this.len -= n;
  }
}

/** How much the store keeps. Past each limit the oldest go first. */
export interface StoreLimits {
  /** Events whose details are kept (details pane, inspector, finding
   * texts); the marks of older ones stay on the timeline. */
  maxEvents: number;
  /** Frames per socket whose payload is kept: the newest ones. */
  payloadsPerSocket: number;
  /** Payload characters kept over all sockets. */
  payloadChars: number;
  /** Frame marks per socket; past it the older half is thinned to every
   * other mark (old frames are drawn sparser, the newest stay exact). */
  framesPerTrack: number;
  /** State segments, findings, arrows, backoffs and state syncs per
   * socket, and engine-wide lines; past it the oldest quarter goes. */
  marksPerTrack: number;
}

export const DEFAULT_LIMITS: StoreLimits = {
  maxEvents: 200_000,
  payloadsPerSocket: 500,
  payloadChars: 8 << 20,
  framesPerTrack: 250_000,
  marksPerTrack: 50_000,
};

/** Frame mark flags in `Track.frameOut`. */
export const FRAME_OUT = 1;
export const FRAME_CLOSE = 2;

/** A first-in first-out list of event indices, popped from the front. */
class IndexQueue {
  private items: number[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(i: number): void {
    this.items.push(i);
  }
  shift(): number | undefined {
    if (this.head >= this.items.length) return undefined;
    const v = this.items[this.head++];
    // Compact now and then so the array does not keep what was popped.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return v;
  }
  /** Keeps only the indices `keep` accepts. */
  filter(keep: (i: number) => boolean): void {
    this.items = this.items.slice(this.head).filter(keep);
    this.head = 0;
  }
}

export const STATE_CODES: StateName[] = ["Idle", "Connecting", "AwaitingReady", "Ready", "Backoff", "Closing", "Closed", "Failed", "Cancelled"];
const CODE = new Map(STATE_CODES.map((s, i) => [s, i]));

export interface FindingMark {
  t: number;
  ev: number;
  cls: string;
  side: "prevented" | "peer" | "network" | "client";
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
  /** Frames: time, flags (FRAME_OUT, FRAME_CLOSE) and event index. */
  frameT = new NumList(256);
  frameOut: number[] = [];
  frameEv: number[] = [];
  /** The latest observed upgrade's event index (-1: none; our own sockets have none). */
  handshakeEv = -1;
  findings: FindingMark[] = [];
  arrows: Arrow[] = [];
  backoffs: BackoffMark[] = [];
  syncs: SyncSpan[] = [];
  progressFirst: { t: number; done: number } | null = null;
  progress: { t: number; done: number; total: number; status: string | null } | null = null;
  lastT = 0;
  /** Frames of this socket that hold a payload, oldest first. */
  readonly payloads = new IndexQueue();

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
  /** Event details, from index `base` on (older ones were dropped, and a
   * removed lane's are holes). */
  private details: (UiEvent | undefined)[] = [];
  private base = 0;
  readonly limits: StoreLimits;
  /** Frames that hold a payload, over all sockets, oldest first. */
  private payloads = new IndexQueue();
  private payloadCount = 0;
  /** Payload characters held now. */
  payloadChars = 0;
  readonly tracks = new Map<number, Track>();
  readonly order: number[] = [];
  /** Sockets whose lanes were removed: their later events draw nothing. */
  private readonly removed = new Set<number>();
  findingsTotal = 0;
  /** Engine-wide changes, in time order; they belong to no lane. */
  readonly env: EnvMark[] = [];
  tMin = Number.POSITIVE_INFINITY;
  tMax = 0;
  /** Wall ns at mono 0, modulo a day (`wallAnchor`), from the first event. */
  wallAnchorNs = 0;
  private anchored = false;
  /** Whether an event has set the wall clock anchor (an empty session has none). */
  get isAnchored(): boolean {
    return this.anchored;
  }
  /** Bumped on every change, so views can skip redraws. */
  version = 0;

  constructor(limits: Partial<StoreLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** The event at index `i`, if its details are still kept. */
  event(i: number): UiEvent | undefined {
    return i >= this.base ? this.details[i - this.base] : undefined;
  }

  /** Events added so far (indices run 0 to this). */
  get eventCount(): number {
    return this.base + this.details.length;
  }

  /** Event slots from the oldest kept on (a removed lane's are empty). */
  get eventsKept(): number {
    return this.details.length;
  }

  /** The oldest index whose details may still be kept. */
  get firstKept(): number {
    return this.base;
  }

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
   * Drops a removed socket's lane, its marks and its events' details (a
   * long session retires thousands of sockets; the session's history keeps
   * them). Late events for it never bring the lane back.
   */
  removeLane(socket: number): void {
    const i = this.order.indexOf(socket);
    if (i < 0) return;
    this.order.splice(i, 1);
    const tr = this.tracks.get(socket);
    if (tr) this.findingsTotal -= tr.findings.length;
    this.tracks.delete(socket);
    this.removed.add(socket);
    for (let k = 0; k < this.details.length; k++) {
      const e = this.details[k];
      if (e?.s !== socket) continue;
      if (e.kind === "frame" && e.payload !== null) {
        this.payloadChars -= e.payload.length;
        this.payloadCount--;
      }
      this.details[k] = undefined;
    }
    this.version++;
  }

  add(events: readonly UiEvent[]): void {
    for (const e of events) this.addOne(e);
    if (events.length > 0) this.version++;
  }

  private addOne(e: UiEvent): void {
    const ev = this.eventCount;
    const gone = e.s !== ENGINE_WIDE && this.removed.has(e.s);
    this.details.push(gone ? undefined : e);
    if (this.details.length > this.limits.maxEvents) {
      // Drop a quarter at once, so the cost is amortised.
      const n = Math.max(1, Math.floor(this.limits.maxEvents / 4));
      this.details.splice(0, n);
      this.base += n;
    }
    if (!this.anchored) {
      this.anchored = true;
      this.wallAnchorNs = wallAnchor(e.w, e.t);
    }
    if (e.t < this.tMin) this.tMin = e.t;
    if (e.t > this.tMax) this.tMax = e.t;
    if (e.s === ENGINE_WIDE || e.kind === "environment") {
      // Socket 0 is the engine itself: no lane, a line across all of them.
      if (e.kind === "environment") this.addEnv({ t: e.t, ev, change: e.change, detail: e.detail });
      return;
    }
    if (gone) return;
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
        tr.frameOut.push((e.direction === "out" ? FRAME_OUT : 0) | (e.opcode === "close" ? FRAME_CLOSE : 0));
        tr.frameEv.push(ev);
        if (tr.frameT.len > this.limits.framesPerTrack) thinFrames(tr);
        if (e.payload !== null) this.keepPayload(tr, ev, e.payload.length);
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
      case "handshake":
        tr.handshakeEv = ev;
        break;
      case "heartbeat_answered":
        break;
      default:
        unhandled(e);
    }
    this.boundMarks(tr);
  }

  private keepPayload(tr: Track, ev: number, chars: number): void {
    tr.payloads.push(ev);
    this.payloads.push(ev);
    this.payloadCount++;
    this.payloadChars += chars;
    while (tr.payloads.length > this.limits.payloadsPerSocket) this.dropPayload(tr.payloads.shift());
    while (this.payloadChars > this.limits.payloadChars && this.payloadCount > 0) this.dropPayload(this.payloads.shift());
    // A socket's queue stays within its limit; the shared one keeps the
    // entries its sockets dropped until swept here.
    if (this.payloads.length > 2 * this.payloadCount + 1024) this.payloads.filter((i) => this.holdsPayload(i));
  }

  private holdsPayload(i: number): boolean {
    const e = this.event(i);
    return e?.kind === "frame" && e.payload !== null;
  }

  /** Forgets a frame's payload (its size and type stay). */
  private dropPayload(i: number | undefined): void {
    if (i === undefined) return;
    const e = this.event(i);
    if (e?.kind !== "frame" || e.payload === null) return;
    this.payloadChars -= e.payload.length;
    this.payloadCount--;
    e.payload = null;
    e.payload_truncated = false;
    e.payload_dropped = true;
  }

  private boundMarks(tr: Track): void {
    const max = this.limits.marksPerTrack;
    const cut = Math.max(1, Math.floor(max / 4));
    if (tr.segStart.len > max) {
      tr.segStart.dropFront(cut);
      tr.segState.splice(0, cut);
      tr.segEv.splice(0, cut);
    }
    for (const list of [tr.findings, tr.arrows, tr.backoffs, tr.syncs] as unknown[][]) {
      if (list.length > max) list.splice(0, cut);
    }
  }

  private addEnv(m: EnvMark): void {
    const max = this.limits.marksPerTrack;
    if (this.env.length >= max) this.env.splice(0, Math.max(1, Math.floor(max / 4)));
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
}

/** Thins the older half of a track's frame marks to every other one. */
function thinFrames(tr: Track): void {
  const len = tr.frameT.len;
  const half = Math.floor(len / 2);
  const t = tr.frameT.buf;
  let w = 0;
  for (let r = 0; r < len; r++) {
    if (r < half && r % 2 === 1) continue;
    t[w] = t[r];
    tr.frameOut[w] = tr.frameOut[r];
    tr.frameEv[w] = tr.frameEv[r];
    w++;
  }
  tr.frameT.len = w;
  tr.frameOut.length = w;
  tr.frameEv.length = w;
}
