import { describe, expect, it } from "vitest";
import { compareStores, delta } from "../src/compare";
import { Store } from "../src/store";
import type { StateName, UiEvent } from "../src/types";

const W = 1_700_000_000_000_000;
const added = (s: number, name: string): UiEvent => ({ id: 0, s, t: 0, w: W, kind: "socket_added", name, scheme: "ws", host: "h", port: 1, path: "/", adapter: "job", job_id: null, token_source: null });
const to = (s: number, t: number, from: StateName, state: StateName): UiEvent => ({
  id: 0,
  s,
  t,
  w: W + t / 1000,
  kind: "transition",
  from,
  to: state,
  attempt: 1,
  backoff_until_ns: null,
  close_code: null,
  close_initiator: null,
  reason: null,
  reason_detail: null,
  cause: "x",
  cause_detail: null,
  error_type: null,
});
const finding = (s: number, t: number, cls: string): UiEvent => ({ id: 0, s, t, w: W, kind: "finding", class: cls, side: "prevented", severity: "warning", attempt: 1, detail: "{}" });

describe("compare two sessions", () => {
  it("state by state, finding by finding, socket by socket", () => {
    // Before: the socket waits 400 ms for Ready and sends early twice.
    const before = new Store();
    before.add([added(1, "csv"), to(1, 0, "Idle", "Connecting"), finding(1, 10, "send_before_ready_queued"), finding(1, 20, "send_before_ready_queued"), to(1, 400, "Connecting", "Ready"), to(1, 1000, "Ready", "Closed")]);
    // After the fix: Ready in 100 ms, no early sends; a new lane.
    const after = new Store();
    after.add([added(7, "csv"), to(7, 0, "Idle", "Connecting"), to(7, 100, "Connecting", "Ready"), to(7, 900, "Ready", "Closed"), added(8, "extra"), finding(8, 5, "seq_gap")]);
    const c = compareStores(before, after);
    const connecting = c.states.find((s) => s.state === "Connecting")!;
    expect([connecting.a, connecting.b, connecting.aNs, connecting.bNs]).toEqual([1, 1, 400, 100]);
    expect(c.states.find((s) => s.state === "Ready")).toMatchObject({ aNs: 600, bNs: 800 });
    expect(c.states.some((s) => s.state === "Idle" || s.state === "Failed")).toBe(false);
    expect(c.findings).toEqual([
      { key: "send_before_ready_queued", a: 2, b: 0 },
      { key: "seq_gap", a: 0, b: 1 },
    ]);
    expect(c.sockets).toEqual([
      { name: "csv", a: 2, b: 0, aEnd: "Closed", bEnd: "Closed" },
      { name: "extra", a: null, b: 1, aEnd: null, bEnd: "Idle" },
    ]);
    expect(c.lanes).toMatchObject({ a: 1, b: 2 });
  });
  it("deltas read as signs", () => {
    expect(delta(2, 0)).toBe("−2");
    expect(delta(0, 1)).toBe("+1");
    expect(delta(3, 3)).toBe("=");
  });
});
