// The boundary-crossing trace as JSON lines: one object per crossing, in order.
// A subscriber: the core never imports it.
import type { Boundary, Crossing } from "./crossings.ts";

export function crossingToJson(c: Crossing): string {
  return JSON.stringify(c);
}

/** Subscribe a line sink to a boundary; returns the unsubscribe function. */
export function traceJsonLines(boundary: Boundary, sink: (line: string) => void): () => void {
  return boundary.subscribe((c) => sink(crossingToJson(c)));
}
