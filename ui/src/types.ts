// The transfer types are generated from the Rust ones (transfer.gen.ts;
// src-tauri/src/typescript.rs checks it is up to date). This file adds only
// what the UI keeps of its own. Times are engine-monotonic nanoseconds (t)
// and wall-clock microseconds (w).

import type { UiEvent as WireEvent } from "./transfer.gen";

export type * from "./transfer.gen";
export { DIALECTS, EXPORT_FORMATS } from "./transfer.gen";

/** A frame the store no longer holds the payload of says so. */
type Kept<E> = E extends { kind: "frame" } ? E & { payload_dropped?: boolean } : E;

/** An event as the UI keeps it: the wire's, plus the store's marks. */
export type UiEvent = Kept<WireEvent>;

/** The socket id of engine-wide events (the engine's `ENGINE_WIDE`). */
export const ENGINE_WIDE = 0;

export type EventOf<K extends UiEvent["kind"]> = Extract<UiEvent, { kind: K }>;

/** Ends a switch over every kind: a kind added to the Rust types and not
 * handled here fails the type check. */
export function unhandled(x: never): never {
  throw new Error(`unhandled: ${JSON.stringify(x)}`);
}
