import { describe, expect, it } from "vitest";
import { rowView } from "../src/socketlist";
import { socketRow } from "./rows";

const row = (over: Parameters<typeof socketRow>[0]) => socketRow({ id: 4, processed: 1, total: 3, ...over });

describe("a socket row's view", () => {
  it("offers the actions its state allows", () => {
    expect(rowView(row({ state: "Ready" }), true, null).actions).toEqual(["cancel", "remove"]);
    expect(rowView(row({ state: "Backoff" }), true, null).actions).toEqual(["cancel", "retry", "remove"]);
    expect(rowView(row({ state: "Failed" }), true, null).actions).toEqual(["retry", "remove"]);
    expect(rowView(row({ state: "Closed" }), true, null).actions).toEqual(["remove"]);
    expect(rowView(row({ state: "Cancelled" }), false, null).actions).toEqual(["remove"]);
  });

  it("shows progress, time left and findings in words", () => {
    const v = rowView(row({ processed: 1, total: 3, findings: 2 }), false, 3_500_000_000);
    expect(v.pct).toBe(33);
    expect(v.findings).toBe("⚑ 2");
    expect(v.eta).not.toBe("");
    expect(rowView(row({ processed: 5, total: 3 }), false, 0)).toMatchObject({ pct: 100, eta: "done" });
    expect(rowView(row({ total: null, processed: null }), false, null)).toMatchObject({ pct: null, eta: "", findings: "" });
  });

  it("a row was ready once it reached Ready, and a backoff row counts down to its retry", () => {
    expect(rowView(row({ state: "Ready" }), false, null).wasReady).toBe(true);
    expect(rowView(row({ state: "Connecting" }), false, null).wasReady).toBe(false);
    expect(rowView(row({ state: "Backoff", attempt: 3, backoff_until: 9_000 }), true, null)).toMatchObject({ wasReady: true, backoff: { until: 9_000, attempt: 3 } });
    expect(rowView(row({ state: "Ready" }), false, null).backoff).toBeNull();
  });

  it("a row whose shown values did not change has the same view", () => {
    // The list redraws a row only when its view's text changes.
    const a = JSON.stringify(rowView(row({ processed: 10, total: 1000 }), true, null));
    expect(JSON.stringify(rowView(row({ processed: 10, total: 1000, rtt_ms: 7 }), true, null))).toBe(a);
    expect(JSON.stringify(rowView(row({ processed: 11, total: 1000 }), true, null))).toBe(a);
    expect(JSON.stringify(rowView(row({ processed: 20, total: 1000 }), true, null))).not.toBe(a);
  });
});
