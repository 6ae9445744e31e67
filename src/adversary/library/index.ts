// The attack library, by input class. Each attack names the hardenings that stop
// it; the tests assert both sides (repelled when hardened, reported when not).
import type { Attack } from "../api.ts";
import { honestHost } from "./baseline.ts";
import { cpuidFlipParavisor, cpuidHideIsolation, cpuidShrinkBoundary, cpuidWrongType } from "./cpuid.ts";
import { hostReadsPrivate, hostWritesPrivate } from "./memory.ts";
import { stallTransition, visibilityNoEffect, visibilityRefused } from "./visibility.ts";

export const ATTACKS: readonly Attack[] = [
  honestHost,
  hostReadsPrivate,
  hostWritesPrivate,
  cpuidHideIsolation,
  cpuidFlipParavisor,
  cpuidWrongType,
  cpuidShrinkBoundary,
  visibilityRefused,
  visibilityNoEffect,
  stallTransition,
];

export function findAttack(name: string): Attack | undefined {
  return ATTACKS.find((a) => a.name === name);
}

export function applies(a: Attack, c: { isolation: string; mode: string }): boolean {
  return a.appliesTo ? a.appliesTo(c as never) : c.isolation !== "none";
}
