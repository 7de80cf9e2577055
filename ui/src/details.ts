// The details pane's words: an event and its causal chain, told from the
// track around it. Pure: builds lines, the caller renders them.

import { handshakeLines } from "./inspector";
import { formatClock, formatDuration } from "./scale";
import type { Store } from "./store";
import { type UiEvent, unhandled } from "./types";

export function detailLines(store: Store, evIndex: number): string[] {
  const ev = store.event(evIndex);
  if (!ev) return [];
  const tr = store.tracks.get(ev.s);
  const name = tr?.name ?? `socket ${ev.s}`;
  const clock = formatClock(ev.t + store.wallAnchorNs, 1);
  const lines: string[] = [];
  const after = (pred: (e: UiEvent) => boolean, limit = 400): UiEvent | undefined => {
    for (let i = evIndex + 1; i < store.eventCount && i < evIndex + limit; i++) {
      const e = store.event(i);
      if (e && e.s === ev.s && pred(e)) return e;
    }
    return undefined;
  };
  const before = (pred: (e: UiEvent) => boolean, limit = 400): UiEvent | undefined => {
    // Details older than the store keeps are gone: stop there.
    for (let i = evIndex - 1; i >= store.firstKept && i > evIndex - limit; i--) {
      const e = store.event(i);
      if (e && e.s === ev.s && pred(e)) return e;
    }
    return undefined;
  };
  switch (ev.kind) {
    case "finding": {
      const glyph = ev.side === "prevented" ? "◆" : ev.side === "peer" ? "▲" : "✖";
      lines.push(`${glyph} ${ev.class}  ${name}  attempt ${ev.attempt}  ${clock}  (${ev.side}, ${ev.severity})`);
      lines.push(`  ${findingDetail(ev.detail)}`);
      const lastIn = before((e) => e.kind === "frame" && e.direction === "in");
      if (lastIn && lastIn.kind === "frame") {
        lines.push(`  last frame in ${formatDuration(ev.t - lastIn.t)} before (${lastIn.message_type ?? lastIn.opcode}${lastIn.seq !== null ? ` seq ${lastIn.seq}` : ""})`);
      }
      const next = after((e) => e.kind === "transition");
      if (next && next.kind === "transition") lines.push(`  next: ${next.from} → ${next.to} after ${formatDuration(next.t - ev.t)} (${next.cause})`);
      const bo = after((e) => e.kind === "backoff_planned");
      if (bo && bo.kind === "backoff_planned") {
        lines.push(`  backoff ${formatDuration(bo.delay_ns)} planned (full jitter of ${formatDuration(bo.ceiling_ns)}), reconnect at ${formatClock(bo.t + bo.delay_ns + store.wallAnchorNs, 1e6)}`);
      }
      const ack = after((e) => e.kind === "transition" && e.cause.startsWith("ready_ack"), 4000);
      if (ack && ack.kind === "transition") lines.push(`  then Ready again: ${ack.cause}${ack.cause_detail ? ` ${ack.cause_detail}` : ""}`);
      break;
    }
    case "transition":
      lines.push(`${ev.from} → ${ev.to}  ${name}${ev.attempt !== null ? `  attempt ${ev.attempt}` : ""}  ${clock}`);
      lines.push(`  cause: ${ev.cause}${ev.cause_detail ? ` (${ev.cause_detail})` : ""}${ev.error_type ? `, error ${ev.error_type}` : ""}`);
      if (ev.close_code !== null) lines.push(`  close ${ev.close_code} by ${ev.close_initiator ?? "?"}`);
      if (ev.reason) lines.push(`  reason: ${ev.reason}${ev.reason_detail ? ` (${ev.reason_detail})` : ""}`);
      if (ev.backoff_until_ns !== null) lines.push(`  backoff until ${formatClock(ev.backoff_until_ns + store.wallAnchorNs, 1e6)} (${formatDuration(ev.backoff_until_ns - ev.t)})`);
      break;
    case "frame":
      lines.push(`${ev.direction === "out" ? "↑ out" : "↓ in"} ${ev.opcode} frame  ${name}  ${clock}  ${ev.size} B`);
      if (ev.message_type) lines.push(`  type ${ev.message_type}${ev.seq !== null ? `, seq ${ev.seq}` : ""}${ev.msg_id !== null ? `, message ${ev.msg_id}` : ""}`);
      if (ev.close_code !== null) lines.push(`  close code ${ev.close_code}`);
      break;
    case "socket_added":
      lines.push(`socket ${ev.name} added  ${clock}`);
      lines.push(`  ${ev.scheme}://${ev.host}:${ev.port}${ev.path}  adapter ${ev.adapter}${ev.job_id ? `  job ${ev.job_id}` : ""}${ev.token_source ? `  token from ${ev.token_source}` : ""}`);
      break;
    case "environment":
      lines.push(`${envLabel(ev.change, ev.detail)}  every socket  ${clock}`);
      lines.push(
        ev.change === "recording_failed"
          ? "  engine-wide: the sockets went on; nothing after this was saved"
          : "  engine-wide: every socket was told (network_changed)",
      );
      break;
    case "handshake":
      lines.push(`${handshakeLines(ev)[0]}  ${name}  ${clock}`, ...handshakeLines(ev).slice(1));
      break;
    case "message":
    case "backoff_planned":
    case "state_sync":
    case "progress":
    case "heartbeat_answered":
      lines.push(`${ev.kind}  ${name}  ${clock}`);
      break;
    default:
      unhandled(ev);
  }
  return lines;
}

/** Finding details are stored as {"detail": "..."}; show the words. */
export function findingDetail(detail: string): string {
  try {
    const v = JSON.parse(detail) as { detail?: unknown };
    if (v && typeof v.detail === "string") return v.detail;
  } catch {
    // Plain text.
  }
  return detail;
}

/** An engine-wide change in words, for the tooltip, the details and the line's label. */
export function envLabel(change: string, detail: string): string {
  switch (change) {
    case "address_added":
      return `⇅ network: address added ${detail}`;
    case "address_removed":
      return `⇅ network: address removed ${detail}`;
    case "wake":
      return `☾ woke from sleep (${detail})`;
    case "recording_failed":
      return `✖ recording failed: ${detail}`;
    default:
      return `⇅ ${change}: ${detail}`;
  }
}
