// The socket list, updated in place: a row's elements are made once and
// only their text, width and attributes change after. Rebuilding the list
// on every progress step made a thousand DOM nodes a second that WebKit's
// garbage collector freed only much later (docs/benchmarks.md, issue 16).

import { formatDuration } from "./scale";
import type { SocketRow, StateName } from "./types";

const BADGE: Record<StateName, string> = {
  Idle: "○",
  Connecting: "◔",
  AwaitingReady: "◑",
  Ready: "●",
  Backoff: "◐",
  Closing: "◕",
  Closed: "■",
  Failed: "✖",
  Cancelled: "⊘",
};

export type SocketAction = "cancel" | "retry" | "remove";

/** What one row shows, as plain values. */
export interface RowView {
  id: number;
  name: string;
  state: StateName;
  badge: string;
  attempts: number;
  wasReady: boolean;
  /** Backoff rows show a countdown (filled in each frame) instead of the attempt count. */
  backoff: { until: number; attempt: number } | null;
  findings: string;
  pct: number | null;
  eta: string;
  actions: SocketAction[];
}

function isTerminal(state: StateName): boolean {
  return state === "Closed" || state === "Failed" || state === "Cancelled";
}

/** A row's view: `left` is its time left in ns (0 once done, null if unknown). */
export function rowView(r: SocketRow, wasReady: boolean, left: number | null): RowView {
  const actions: SocketAction[] = [];
  if (!isTerminal(r.state)) actions.push("cancel");
  if (r.state === "Failed" || r.state === "Backoff") actions.push("retry");
  // Remove cancels the socket (if it still runs) and forgets it: its row
  // and its lane go; its recorded history stays in the session.
  actions.push("remove");
  return {
    id: r.id,
    name: r.name,
    state: r.state,
    badge: BADGE[r.state] ?? "?",
    attempts: r.attempts,
    wasReady: wasReady || r.state === "Ready",
    backoff: r.state === "Backoff" ? { until: r.backoff_until ?? 0, attempt: r.attempt } : null,
    findings: r.findings > 0 ? `⚑ ${r.findings}` : "",
    pct: r.total ? Math.min(100, Math.round(((r.processed ?? 0) / r.total) * 100)) : null,
    eta: left === null ? "" : left === 0 ? "done" : formatDuration(left),
    actions,
  };
}

interface Row {
  li: HTMLLIElement;
  badge: HTMLElement;
  name: HTMLElement;
  state: HTMLElement;
  attempt: HTMLElement;
  findings: HTMLElement;
  fill: HTMLElement;
  pct: HTMLElement;
  eta: HTMLElement;
  actions: HTMLElement;
  /** The view last drawn, and its action set. */
  drawn: string;
  drawnActions: string;
}

export interface SocketListHooks {
  onAction(id: number, action: SocketAction): void;
  /** A click on the row outside its buttons. */
  onPick(id: number): void;
}

function el(tag: string, cls: string): HTMLElement {
  const e = document.createElement(tag);
  e.className = cls;
  return e;
}

export class SocketList {
  private readonly rows = new Map<number, Row>();

  constructor(
    private readonly list: HTMLElement,
    private readonly hooks: SocketListHooks,
  ) {}

  /** Shows `views` in order; rows that left go. */
  render(views: readonly RowView[]): void {
    const keep = new Set(views.map((v) => v.id));
    for (const [id, row] of this.rows) {
      if (!keep.has(id)) {
        row.li.remove();
        this.rows.delete(id);
      }
    }
    let at: ChildNode | null = this.list.firstChild;
    for (const v of views) {
      const row = this.rows.get(v.id) ?? this.make(v.id);
      this.update(row, v);
      if (row.li === at) at = at.nextSibling;
      else this.list.insertBefore(row.li, at);
    }
  }

  private make(id: number): Row {
    const li = document.createElement("li");
    const line = () => el("div", "line");
    const row: Row = {
      li,
      badge: el("span", "badge"),
      name: el("span", "name"),
      state: el("span", "state"),
      attempt: el("span", "mono dim"),
      findings: el("span", "findings"),
      fill: el("div", "fill"),
      pct: el("span", "mono pct"),
      eta: el("span", "mono eta"),
      actions: el("span", "actions"),
      drawn: "",
      drawnActions: "",
    };
    row.findings.title = "findings";
    const bar = el("div", "progress");
    bar.append(row.fill);
    const l1 = line();
    l1.append(row.badge, row.name, row.state);
    const l2 = line();
    l2.append(row.attempt, row.findings);
    const l3 = line();
    l3.append(bar, row.pct, row.eta);
    li.append(l1, l2, l3, row.actions);
    li.dataset.socket = String(id);
    li.addEventListener("click", (e) => {
      if ((e.target as HTMLElement).tagName === "BUTTON") return;
      this.hooks.onPick(id);
    });
    this.rows.set(id, row);
    return row;
  }

  private update(row: Row, v: RowView): void {
    const key = JSON.stringify(v);
    if (key === row.drawn) return;
    row.drawn = key;
    const li = row.li;
    li.className = `socket st-${v.state}`;
    li.dataset.name = v.name;
    li.dataset.state = v.state;
    li.dataset.attempts = String(v.attempts);
    li.dataset.wasReady = v.wasReady ? "1" : "0";
    setText(row.badge, v.badge);
    setText(row.name, v.name);
    row.name.title = v.name;
    setText(row.state, v.state);
    if (v.backoff) {
      // The text is the countdown's, written every frame.
      row.attempt.className = "countdown mono";
      row.attempt.dataset.until = String(v.backoff.until);
      row.attempt.dataset.attempt = String(v.backoff.attempt);
    } else {
      row.attempt.className = "mono dim";
      delete row.attempt.dataset.until;
      delete row.attempt.dataset.attempt;
      setText(row.attempt, `attempt ${v.attempts}`);
    }
    setText(row.findings, v.findings);
    row.fill.style.width = `${v.pct ?? 0}%`;
    setText(row.pct, v.pct === null ? "" : `${v.pct}%`);
    setText(row.eta, v.eta);
    const actions = v.actions.join(",");
    if (actions !== row.drawnActions) {
      row.drawnActions = actions;
      row.actions.replaceChildren(
        ...v.actions.map((a) => {
          const b = document.createElement("button");
          b.type = "button";
          b.className = a;
          b.dataset.socket = String(v.id);
          b.textContent = a;
          if (a === "remove") b.title = "cancel and remove";
          b.addEventListener("click", () => this.hooks.onAction(v.id, a));
          return b;
        }),
      );
    }
  }
}

/** Writes text only when it changed, so an unchanged row costs no layout. */
function setText(e: HTMLElement, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}
