// A second guard for the inspector: the recorder already scrubs payloads,
// but nothing that looks like a credential is shown even if one slipped by.

const SECRET_KEY = /^(token|access_token|refresh_token|id_token|authorization|auth|password|passwd|secret|api_key|apikey|cookie|set-cookie|session|jwt)$/i;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/g;
const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\b/g;
const QUERY_TOKEN = /([?&](?:token|access_token|auth|key)=)[^&\s"]+/gi;

export const REDACTED = "[redacted]";

function scrubText(s: string): string {
  return s.replace(BEARER, `$1 ${REDACTED}`).replace(JWT, REDACTED).replace(QUERY_TOKEN, `$1${REDACTED}`);
}

function scrubValue(v: unknown): unknown {
  if (typeof v === "string") return scrubText(v);
  if (Array.isArray(v)) return v.map(scrubValue);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = SECRET_KEY.test(k) && x !== null ? REDACTED : scrubValue(x);
    return out;
  }
  return v;
}

/** Pretty JSON when the payload parses, scrubbed text otherwise. */
export function prettyPayload(text: string | null): string {
  if (text === null) return "(no payload kept)";
  try {
    return JSON.stringify(scrubValue(JSON.parse(text)), null, 2);
  } catch {
    return scrubText(text);
  }
}

/**
 * A binary payload (base64, as the recorder stores it) as a hex dump: 16
 * bytes a line, offset, hex and printable ASCII. Bytes the recorder masked
 * show as `*`. The ASCII column goes through the same guard as text.
 */
export function hexDump(base64: string | null): string {
  if (base64 === null) return "(no payload kept)";
  let bin: string;
  try {
    bin = atob(base64);
  } catch {
    return "(binary payload not readable)";
  }
  const lines: string[] = [`binary, ${bin.length} bytes`];
  for (let at = 0; at < bin.length; at += 16) {
    const row = bin.slice(at, at + 16);
    const hex = [...row].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join(" ");
    const ascii = [...row].map((c) => (c >= " " && c <= "~" ? c : ".")).join("");
    lines.push(`${at.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${scrubText(ascii)}`);
  }
  return lines.join("\n");
}
