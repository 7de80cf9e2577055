import { describe, expect, it } from "vitest";
import { faultLines } from "../src/recorder";

describe("faultLines", () => {
  it("takes one fault a line, trimmed, and leaves blank lines out", () => {
    expect(faultLines("in:*:drop\n\n  out:/type=ping:delay=200  \n \n")).toEqual(["in:*:drop", "out:/type=ping:delay=200"]);
    expect(faultLines("")).toEqual([]);
  });
});
