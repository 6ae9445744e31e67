// Colours of the page: memory categories, crossing kinds, actors.
import type { MapCategory } from "../src/report/data.ts";

export const CATEGORY_COLORS: Record<MapCategory, string> = {
  private: "#2f6db5",
  shared: "#e8833a",
  transition: "#d6336c",
  paravisor: "#7b5cc4",
};

export const CATEGORY_LABELS: Record<MapCategory, string> = {
  private: "private (encrypted)",
  shared: "shared (decrypted)",
  transition: "in transition",
  paravisor: "paravisor-owned",
};

const KIND_PALETTE = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
  "#1f77b4",
  "#8c564b",
  "#17becf",
  "#bcbd22",
  "#7f7f7f",
  "#e377c2",
];

/** A stable colour per kind, by its place in the report's kind list. */
export function kindColor(kinds: readonly string[], kind: string): string {
  const i = kinds.indexOf(kind);
  if (i >= 0 && i < KIND_PALETTE.length) return KIND_PALETTE[i]!;
  return `hsl(${(Math.max(i, 0) * 47) % 360} 55% 50%)`;
}

export const SERIES_PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948"];
