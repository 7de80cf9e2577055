import { describe, expect, it } from "vitest";
import { ANY_FINDING, PIN_HOLD_MS, groupFindings, pinMovesOn, raceFor, raceLine } from "../src/findings";
import { Store } from "../src/store";
import type { ScenarioRow, UiEvent } from "../src/types";

const W = 1_700_000_000_000_000;
const CATALOG: ScenarioRow[] = [
  { id: "send-before-handshake", race: "the app sends while the handshake is in flight", seed: "000", expected: ["send_before_ready_queued"] },
  { id: "abrupt-drop-then-resume", race: "the connection drops with no close frame", seed: "002", expected: ["abnormal_close"] },
  { id: "cancel-during-backoff", race: "the user cancels while a reconnect is scheduled", seed: "002", expected: ["abnormal_close"] },
];
const added = (s: number, name: string): UiEvent => ({ id: 0, s, t: s, w: W, kind: "socket_added", name, scheme: "ws", host: "h", port: 1, path: "/", adapter: "job", job_id: null, token_source: null });
const finding = (s: number, t: number, cls: string, side: "prevented" | "peer" | "network" | "client", severity: "info" | "warning" | "error" = "warning"): UiEvent => ({
  id: 0,
  s,
  t,
  w: W + t / 1000,
  kind: "finding",
  class: cls,
  side,
  severity,
  attempt: 1,
  detail: "{}",
});

describe("findings", () => {
  it("group by class with counts and the worst severity; errors first", () => {
    const s = new Store();
    s.add([added(1, "csv_import"), added(2, "#7 cancel-during-backoff")]);
    s.add([finding(1, 10, "send_before_ready_queued", "prevented"), finding(1, 20, "send_before_ready_queued", "prevented"), finding(2, 30, "abnormal_close", "network", "warning"), finding(1, 40, "abnormal_close", "network", "error")]);
    const g = groupFindings(s, ANY_FINDING, CATALOG);
    expect(g.map((x) => [x.cls, x.count, x.severity])).toEqual([
      ["abnormal_close", 2, "error"],
      ["send_before_ready_queued", 2, "warning"],
    ]);
    expect(g[0].items.map((i) => i.mark.t)).toEqual([30, 40]);
  });

  it("each finding names its race: the one its socket plays, else the catalog's first", () => {
    expect(raceFor("abnormal_close", "#7 cancel-during-backoff", CATALOG)?.scenario).toBe("cancel-during-backoff");
    expect(raceFor("abnormal_close", "csv_import", CATALOG)?.scenario).toBe("abrupt-drop-then-resume");
    expect(raceFor("send_before_ready_queued", "#7 cancel-during-backoff", CATALOG)?.seed).toBe("000");
    expect(raceFor("no_such_class", "x", CATALOG)).toBeNull();
    expect(raceLine(raceFor("abnormal_close", "csv_import", CATALOG))).toBe("seed 002 · abrupt-drop-then-resume: the connection drops with no close frame");
  });

  it("filter by socket and by side", () => {
    const s = new Store();
    s.add([added(1, "a"), added(2, "b")]);
    s.add([finding(1, 10, "x", "prevented"), finding(2, 20, "y", "peer"), finding(2, 30, "z", "prevented")]);
    expect(groupFindings(s, { socket: 2, side: null }, []).map((g) => g.cls)).toEqual(["y", "z"]);
    expect(groupFindings(s, { socket: null, side: "prevented" }, []).map((g) => g.cls)).toEqual(["x", "z"]);
    expect(groupFindings(s, { socket: 1, side: "peer" }, [])).toEqual([]);
  });

  it("long groups keep the newest items, and count them all", () => {
    const s = new Store();
    s.add([added(1, "a")]);
    s.add(Array.from({ length: 10 }, (_, i) => finding(1, i, "x", "peer")));
    const [g] = groupFindings(s, ANY_FINDING, [], 3);
    expect(g.count).toBe(10);
    expect(g.items.map((i) => i.mark.t)).toEqual([7, 8, 9]);
  });
});

describe("a pin the window made", () => {
  const at = 1_000;
  it("holds while it is fresh and its lane is there", () => {
    expect(pinMovesOn(at, 0, at + PIN_HOLD_MS, true)).toBe(false);
  });
  it("moves on to the newest finding once it is older than the hold", () => {
    expect(pinMovesOn(at, 0, at + PIN_HOLD_MS + 1, true)).toBe(true);
  });
  it("moves on at once when its lane has left", () => {
    expect(pinMovesOn(at, 0, at + 1, false)).toBe(true);
  });
  it("stays where the user put the view after they touched it", () => {
    expect(pinMovesOn(at, at + 5, at + 10 * PIN_HOLD_MS, false)).toBe(false);
  });
  it("does nothing without a pin of the window's", () => {
    expect(pinMovesOn(0, 0, 10 * PIN_HOLD_MS, false)).toBe(false);
  });
});
