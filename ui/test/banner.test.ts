import { describe, expect, it } from "vitest";
import { bannerText, recordingFailure } from "../src/banner";
import type { UiEvent } from "../src/types";

const env = (t: number, change: string, detail: string): UiEvent => ({ id: 0, s: 0, t, w: 1_700_000_000_000_000 + t / 1000, kind: "environment", change, detail });

describe("the recording-failed banner", () => {
  it("shows the reason of the engine-wide recording_failed event", () => {
    const reason = "sqlite: database or disk is full (recording to /data/s.db)";
    expect(recordingFailure([env(1, "wake", "suspended 3.000 s"), env(2, "recording_failed", reason)])).toBe(reason);
    expect(bannerText(reason)).toContain("/data/s.db");
    expect(bannerText(reason)).toMatch(/^Recording failed: /);
  });

  it("stays hidden for other engine-wide changes", () => {
    expect(recordingFailure([env(1, "address_added", "10.0.0.2/24"), env(2, "wake", "suspended 1.000 s")])).toBeNull();
    expect(recordingFailure([])).toBeNull();
  });
});
