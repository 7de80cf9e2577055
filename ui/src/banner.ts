// The red banner: the recording stopped for good (disk full, a read-only or
// corrupt file). The sockets go on; what happens from then is not saved.

import type { UiEvent } from "./types";

/** The reason of the last `recording_failed` engine-wide event among `events`, if any. */
export function recordingFailure(events: readonly UiEvent[]): string | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e.kind === "environment" && e.change === "recording_failed") return e.detail;
  }
  return null;
}

/** The banner's words. */
export function bannerText(reason: string): string {
  return `Recording failed: ${reason}. The sockets go on, but nothing from now on is saved.`;
}
