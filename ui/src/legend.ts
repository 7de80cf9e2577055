// The legend: what each colour, pattern, glyph and line of the timeline
// means, drawn with the timeline's own palette and painters so it cannot
// drift from what the canvas shows.

import { type Palette, STATE_PATTERN, drawFindingGlyph, makePattern, palette } from "./timeline";
import { STATE_CODES } from "./store";

/** The states as drawn, with what the pattern is, in words. */
export const STATE_LEGEND: { state: string; looks: string; means: string }[] = [
  { state: "Connecting", looks: "amber, dotted", means: "the handshake is in flight" },
  { state: "AwaitingReady", looks: "amber, hatched", means: "connected; waiting for the server's ready ack (sends wait in the outbox)" },
  { state: "Ready", looks: "green", means: "sends go out" },
  { state: "Backoff", looks: "grey; dashed outline: the planned delay", means: "waiting to reconnect" },
  { state: "Closing", looks: "orange, vertical stripes", means: "a close frame was sent or received" },
  { state: "Closed", looks: "dark", means: "ended cleanly" },
  { state: "Failed", looks: "red, crossed", means: "gave up" },
  { state: "Cancelled", looks: "purple, horizontal stripes", means: "cancelled by the user" },
];

/** The finding glyphs: the shape says whose side a finding is on. */
export const SIDE_LEGEND: { side: "prevented" | "peer" | "client" | "network"; glyph: string; means: string }[] = [
  { side: "prevented", glyph: "◆", means: "our side: a race the engine prevented (a send held until Ready, a write refused after close)" },
  { side: "peer", glyph: "▲", means: "the peer's side: the server broke the contract (frames after its close, a seq gap)" },
  { side: "client", glyph: "■", means: "an observed client's side (an imported capture, the recording proxy)" },
  { side: "network", glyph: "●", means: "the network: a drop with no close frame, a lost heartbeat" },
];

type LinePainter = (ctx: CanvasRenderingContext2D, pal: Palette, w: number, h: number) => void;

/** The marks and lines, each painted as the timeline paints it. */
export const LINE_LEGEND: { id: string; means: string; paint: LinePainter }[] = [
  {
    id: "out",
    means: "a frame we sent (tick above the bar)",
    paint: (c, p, _w, h) => ticks(c, p.out, 0, h / 2 - 1),
  },
  {
    id: "in",
    means: "a frame we received (tick below the bar)",
    paint: (c, p, _w, h) => ticks(c, p.in, h / 2 + 1, h / 2 - 1),
  },
  {
    id: "close",
    means: "a close frame (thick red tick)",
    paint: (c, p, w, h) => {
      c.fillStyle = p.close;
      c.fillRect(w / 2, 0, 2, h);
    },
  },
  {
    id: "outbox",
    means: "outbox: sent before Ready at the corner, written at the arrow",
    paint: (c, p, w, h) => {
      c.strokeStyle = p.arrow;
      c.fillStyle = p.arrow;
      c.lineWidth = 1.5;
      c.beginPath();
      c.moveTo(4, h - 2);
      c.lineTo(4, 4);
      c.lineTo(w - 6, 4);
      c.stroke();
      c.beginPath();
      c.moveTo(w - 6, 8);
      c.lineTo(w - 9, 3);
      c.lineTo(w - 3, 3);
      c.closePath();
      c.fill();
    },
  },
  {
    id: "sync",
    means: "state sync: request to answer (red: it failed)",
    paint: (c, p, w, h) => {
      c.fillStyle = p.sync;
      c.fillRect(4, h - 4, w / 2 - 6, 2);
      c.fillRect(4, h - 7, 1, 5);
      c.fillStyle = p.syncBad;
      c.fillRect(w / 2 + 2, h - 4, w / 2 - 6, 2);
      c.fillRect(w / 2 + 2, h - 7, 1, 5);
    },
  },
  {
    id: "backoff",
    means: "backoff: planned delay outlined, actual wait filled",
    paint: (c, p, w, h) => {
      c.fillStyle = p.states[4];
      c.fillRect(2, 3, w * 0.55, h - 6);
      c.setLineDash([3, 2]);
      c.strokeStyle = p.fg;
      c.strokeRect(2.5, 3.5, w - 6, h - 7);
      c.setLineDash([]);
    },
  },
  {
    id: "env",
    means: "machine-wide: network change (⇅) or wake (☾), across every lane",
    paint: (c, p, w, h) => {
      c.strokeStyle = p.env;
      c.setLineDash([4, 3]);
      c.beginPath();
      c.moveTo(w / 2 + 0.5, 0);
      c.lineTo(w / 2 + 0.5, h);
      c.stroke();
      c.setLineDash([]);
    },
  },
  {
    id: "mark",
    means: "the cursor on a frame picked in the inspector",
    paint: (c, p, w, h) => {
      c.strokeStyle = p.arrow;
      c.beginPath();
      c.moveTo(w / 2 + 0.5, 0);
      c.lineTo(w / 2 + 0.5, h);
      c.stroke();
    },
  },
];

function ticks(c: CanvasRenderingContext2D, color: string, y: number, h: number): void {
  c.fillStyle = color;
  for (let x = 4; x < 40; x += 5) c.fillRect(x, y, 1, h);
}

function swatch(w: number, h: number, paint: (ctx: CanvasRenderingContext2D) => void): HTMLCanvasElement {
  const cv = document.createElement("canvas");
  cv.width = w;
  cv.height = h;
  cv.className = "swatch";
  const ctx = cv.getContext("2d");
  if (ctx) paint(ctx);
  return cv;
}

function row(kind: string, key: string, pic: HTMLElement, name: string, means: string): HTMLElement {
  const tr = document.createElement("tr");
  tr.dataset[kind] = key;
  const cells = [pic, name, means];
  for (const c of cells) {
    const td = document.createElement("td");
    td.append(c);
    tr.append(td);
  }
  return tr;
}

function section(title: string, rows: HTMLElement[]): HTMLElement {
  const wrap = document.createElement("section");
  const h = document.createElement("h3");
  h.textContent = title;
  const table = document.createElement("table");
  table.append(...rows);
  wrap.append(h, table);
  return wrap;
}

/** Fills `el` with the legend, in the theme `themeOf` carries now. */
export function renderLegend(el: HTMLElement, themeOf: HTMLElement): void {
  const pal = palette(themeOf);
  const states = STATE_LEGEND.map((s) => {
    const code = STATE_CODES.indexOf(s.state as (typeof STATE_CODES)[number]);
    const pic = swatch(44, 16, (ctx) => {
      ctx.fillStyle = pal.bg;
      ctx.fillRect(0, 0, 44, 16);
      ctx.fillStyle = makePattern(ctx, pal.states[code], STATE_PATTERN[code]);
      ctx.fillRect(0, 0, 44, 16);
    });
    return row("state", s.state, pic, `${s.state} (${s.looks})`, s.means);
  });
  const sides = SIDE_LEGEND.map((s) => {
    const pic = swatch(44, 20, (ctx) => {
      ctx.fillStyle = pal.bg;
      ctx.fillRect(0, 0, 44, 20);
      drawFindingGlyph(ctx, pal, s.side, "warning", 14, 10, 6);
      drawFindingGlyph(ctx, pal, s.side, "error", 32, 10, 6);
    });
    return row("side", s.side, pic, `${s.glyph} ${s.side}`, s.means);
  });
  const lines = LINE_LEGEND.map((l) => {
    const pic = swatch(44, 20, (ctx) => {
      ctx.fillStyle = pal.lane;
      ctx.fillRect(0, 0, 44, 20);
      l.paint(ctx, pal, 44, 20);
    });
    return row("line", l.id, pic, l.id, l.means);
  });
  const note = document.createElement("p");
  note.className = "hint";
  note.textContent = "Each lane is one socket: sent frames above its state bar, received ones below. A finding's colour is its side's, red when it is an error; hover one for its class, click it for its story.";
  el.replaceChildren(note, section("States", states), section("Findings: whose side", sides), section("Frames and lines", lines));
}
