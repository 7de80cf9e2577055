// Benchmark page: 1M synthetic events on 8 sockets, the real Timeline on a
// real canvas. The runner (timeline-bench.mjs) reads window.benchResult.

import { NS } from "../src/scale";
import { Store } from "../src/store";
import { Timeline } from "../src/timeline";
import type { StateName, UiEvent } from "../src/types";

const params = new URLSearchParams(location.search);
const N = Number(params.get("n") ?? 1_000_000);
/** "synthetic": N events on 8 sockets; "demo-hour": an hour of the app's endless demo, as its history opens. */
const CASE = params.get("case") ?? "synthetic";
const SOCKETS = 8;

/**
 * An hour of the endless demo's shape (EndlessDemo defaults): a 40-item
 * job every 5 s, each on a lane of its own with its race, and a 1,200-item
 * import every 4 min; about 107,000 events on 735 lanes.
 */
function demoHour(): UiEvent[] {
  const out: UiEvent[] = [];
  const w0 = 1_700_000_000_000_000;
  let s = 0;
  const lane = (start: number, items: number, pace: number, name: string, race: boolean) => {
    s++;
    const at = (t: number) => ({ id: 0, s, t, w: w0 + t / 1000 });
    const tr = (t: number, from: StateName, to: StateName) => ({ ...at(t), kind: "transition" as const, from, to, attempt: 1, backoff_until_ns: null, close_code: null, close_initiator: null, reason: to === "Closed" ? "job_finished" : null, reason_detail: null, cause: "x", cause_detail: null, error_type: null });
    out.push({ ...at(start), kind: "socket_added", name, scheme: "ws", host: "sim", port: 1, path: "/", adapter: "job", job_id: null, token_source: null });
    out.push(tr(start + 1e6, "Idle", "Connecting"), tr(start + 5e6, "Connecting", "AwaitingReady"), tr(start + 8e6, "AwaitingReady", "Ready"));
    out.push({ ...at(start + 6e6), kind: "frame", direction: "out", opcode: "text", size: 60, message_type: "ready", seq: null, msg_id: null, close_code: null, payload: null, payload_truncated: false });
    if (race) out.push({ ...at(start + 7e6), kind: "finding", class: "send_before_ready_queued", side: "prevented", severity: "info", attempt: 1, detail: "{}" });
    for (let i = 1; i <= items; i++) {
      const t = start + 8e6 + i * pace;
      out.push({ ...at(t), kind: "frame", direction: "in", opcode: "text", size: 150, message_type: "job_progress", seq: i, msg_id: null, close_code: null, payload: null, payload_truncated: false });
      out.push({ ...at(t), kind: "progress", processed: i, total: items, status: null, source: "event" });
    }
    const end = start + 8e6 + (items + 1) * pace;
    out.push(tr(end, "Ready", "Closing"), tr(end + 2e6, "Closing", "Closed"));
  };
  for (let k = 0; k < 720; k++) lane(k * 5 * NS.s, 40, 50 * NS.ms, `#${k + 5} act-${k % 10}`, true);
  for (let k = 0; k < 15; k++) lane(k * 4 * NS.min, 1200, 200 * NS.ms, `long-${k + 1} csv_import`, false);
  out.sort((a, b) => a.t - b.t);
  return out;
}

function synth(n: number): UiEvent[] {
  const out: UiEvent[] = [];
  const w0 = 1_700_000_000_000_000;
  const states: StateName[] = ["Connecting", "AwaitingReady", "Ready", "Backoff"];
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let s = 0; s < SOCKETS; s++) {
    out.push({ id: 0, s, t: 0, w: w0, kind: "socket_added", name: `job_${s}`, scheme: "ws", host: "sim", port: 1, path: "/", adapter: "job", job_id: null, token_source: null });
  }
  // One hour of traffic: frames every ~3.6 ms per socket, a transition
  // every ~200 frames, a finding every ~5000.
  const span = NS.h;
  const per = Math.floor((n - SOCKETS) / SOCKETS);
  for (let s = 0; s < SOCKETS; s++) {
    let si = 0;
    for (let i = 0; i < per; i++) {
      const t = Math.floor((i / per) * span) + s * 1000;
      const w = w0 + t / 1000;
      if (i % 200 === 0) {
        const to = states[si++ % states.length];
        out.push({ id: 0, s, t, w, kind: "transition", from: "Idle", to, attempt: 1, backoff_until_ns: null, close_code: null, close_initiator: null, reason: null, reason_detail: null, cause: "start", cause_detail: null, error_type: null });
      } else if (i % 5000 === 1) {
        out.push({ id: 0, s, t, w, kind: "finding", class: "abnormal_close", side: rnd() < 0.5 ? "network" : "peer", severity: "warning", attempt: 1, detail: "{}" });
      } else {
        out.push({ id: 0, s, t, w, kind: "frame", direction: rnd() < 0.5 ? "in" : "out", opcode: "text", size: 100, message_type: "job_progress", seq: i, msg_id: null, close_code: null, payload: null, payload_truncated: false });
      }
    }
  }
  out.sort((a, b) => a.t - b.t);
  return out;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const nextFrame = () => new Promise<number>((r) => requestAnimationFrame(r));

/** The JS heap after a full collection, in bytes (Chromium with --js-flags=--expose-gc
 * and --enable-precise-memory-info); null where the browser does not say. */
function heapAfterGc(): number | null {
  const w = window as unknown as { gc?: () => void };
  const mem = (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory;
  if (!w.gc || !mem) return null;
  w.gc();
  return mem.usedJSHeapSize;
}

async function run(): Promise<void> {
  const heapBefore = heapAfterGc();
  const events = CASE === "demo-hour" ? demoHour() : synth(N);
  const heapEvents = heapAfterGc();
  const store = new Store();
  const t0 = performance.now();
  store.add(events);
  const ingestMs = performance.now() - t0;
  const canvas = document.getElementById("timeline") as HTMLCanvasElement;
  const tl = new Timeline(canvas, store, { onSelect() {}, onLiveChange() {}, onCursor() {}, onRange() {} });
  tl.resize(1600, 700);
  tl.setLive(false);
  const f0 = performance.now();
  tl.fitAll();
  tl.draw();
  await nextFrame();
  const firstDrawMs = performance.now() - f0;
  // What the store holds beyond the events it was given (the window's
  // store keeps its UiEvents as details, so they count too).
  const heapStored = heapAfterGc();
  const heap =
    heapBefore !== null && heapEvents !== null && heapStored !== null
      ? { events: heapEvents - heapBefore, storeAndTimeline: heapStored - heapEvents }
      : null;

  const measure = async (label: string, step: (i: number) => void, frames: number) => {
    const draws: number[] = [];
    const intervals: number[] = [];
    let last = await nextFrame();
    for (let i = 0; i < frames; i++) {
      step(i);
      tl.draw();
      draws.push(tl.lastDrawMs);
      const now = await nextFrame();
      intervals.push(now - last);
      last = now;
    }
    return { label, frames, drawP50: pct(draws, 50), drawP95: pct(draws, 95), drawMax: Math.max(...draws), frameP50: pct(intervals, 50), frameP95: pct(intervals, 95) };
  };
  const results = [];
  // Whole hour in view: every lane is dense.
  results.push(await measure("pan, whole hour in view", () => (tl.scale = { ...tl.scale, t0: tl.scale.t0 - 5 * tl.scale.nsPerPx }), 120));
  results.push(await measure("zoom in, hour → µs", () => (tl.scale = { ...tl.scale, nsPerPx: Math.max(1, tl.scale.nsPerPx * 0.85), t0: tl.scale.t0 + 800 * tl.scale.nsPerPx * 0.15 }), 120));
  tl.fitAll();
  results.push(await measure("zoom out, fitted → 24 h", () => {
    tl.scale = { ...tl.scale, nsPerPx: tl.scale.nsPerPx * 1.02 };
  }, 120));
  // Lanes scrolled through (a long session has more lanes than fit).
  results.push(await measure("scroll lanes", () => (tl.scrollY = (tl.scrollY + 40) % Math.max(1, store.order.length * 52)), 120));
  (window as unknown as { benchResult: unknown }).benchResult = { case: CASE, n: store.eventCount, lanes: store.order.length, ingestMs, firstDrawMs, heap, results };
}

run().catch((e) => {
  (window as unknown as { benchResult: unknown }).benchResult = { error: String(e) };
});
