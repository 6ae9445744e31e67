// Every LayoutSection `hvcoco layout` prints, gathered in one place.
import { HYPERV_LAYOUT } from "../hyperv/layout.ts";
import type { LayoutSection } from "./registry.ts";

export const ALL_LAYOUTS: readonly LayoutSection[] = [HYPERV_LAYOUT];
