import { describe, expect, it } from "vitest";
import { hexDump, prettyPayload } from "../src/redact";

describe("payloads in the inspector", () => {
  it("dumps a binary payload as offset, hex and ASCII, masked bytes as stars", () => {
    // MessagePack {"token": "******"}, as the recorder stores it.
    const bytes = [0x81, 0xa5, ...Array.from("token", (c) => c.charCodeAt(0)), 0xa6, ...Array(6).fill(0x2a), 0x00, 0xff];
    const dump = hexDump(btoa(String.fromCharCode(...bytes)));
    expect(dump.split("\n")).toEqual([
      "binary, 16 bytes",
      "00000000  81 a5 74 6f 6b 65 6e a6 2a 2a 2a 2a 2a 2a 00 ff  ..token.******..",
    ]);
  });

  it("starts a line every 16 bytes and guards the ASCII column", () => {
    const text = "xx Bearer abcdefghijkl yy";
    const dump = hexDump(btoa(text)).split("\n");
    expect(dump).toHaveLength(3);
    expect(dump[2].startsWith("00000010  ")).toBe(true);
    // The credential's part on the first line is not shown in the clear.
    expect(dump[1].endsWith("xx Bearer [redacted]")).toBe(true);
    expect(dump[2].endsWith("ghijkl yy")).toBe(true);
  });

  it("says so when there is nothing to show", () => {
    expect(hexDump(null)).toBe("(no payload kept)");
    expect(hexDump("%%%")).toBe("(binary payload not readable)");
    expect(prettyPayload(null)).toBe("(no payload kept)");
  });
});
