// The attack library, by input class. Each attack names the hardenings that stop
// it; the tests assert both sides (repelled when hardened, reported when not).
import type { Attack } from "../api.ts";
import { honestHost } from "./baseline.ts";
import { cpuidFlipParavisor, cpuidHideIsolation, cpuidShrinkBoundary, cpuidWrongType } from "./cpuid.ts";
import {
  hostReadsBouncePages,
  offerRelidCollision,
  relayOfferConfidentialFlags,
  untrustedPathClose,
  untrustedSynicRescind,
} from "./cvmbus.ts";
import {
  gpadlCreatedUnknown,
  gpadlRefused,
  gpadlStaleMapping,
  gpadlTeardownRace,
  gpadlTorndownLive,
} from "./gpadl.ts";
import {
  illegalExceptionVectors,
  illegalUnsetVectors,
  interruptStorm,
  stormDuringBoot,
} from "./interrupts.ts";
import { hostReadsPrivate, hostWritesPrivate } from "./memory.ts";
import {
  msgNoHandler,
  msgOversized,
  msgRandomJunk,
  msgTruncated,
  msgTypeOutOfRange,
  msgUnsolicited,
} from "./messages.ts";
import { msrJunk, msrSynicPagesLie } from "./msr.ts";
import {
  offerConfidentialFlags,
  offerDuplicateRelid,
  offerNonHardened,
  offerRelidRange,
  rescindAll,
  rescindDuringOpen,
  rescindUnknown,
} from "./offers.ts";
import { fakeVtpm, untrustedVisibility } from "./paravisor.ts";
import {
  ringControlJunk,
  ringLen8Beyond,
  ringLen8Short,
  ringLen8TooBig,
  ringOffset8Lie,
  ringReadIndexLie,
  ringWriteIndexRange,
  ringWriteIndexRewound,
  ringWriteIndexUnaligned,
} from "./ring.ts";
import { netvscRewriteAfterCheck, netvscXferRanges, rndisBadOffsets } from "./rndis.ts";
import { stallGpadl, stallIc, stallOffers, stallOpen, stallTeardown, stallVersion } from "./stalls.ts";
import { storvspBadLengths, storvspBogusCompletions, storvspStatusAndSense } from "./storage.ts";
import { synicBadTypes, synicFlood, synicPendingGames } from "./synic.ts";
import {
  toctouAfterCopy,
  toctouLengthAfterRead,
  toctouLengthAfterValidate,
  toctouOffsetAfterValidate,
} from "./toctou.ts";
import {
  stallTransition,
  visibilityFailsMidway,
  visibilityNoEffect,
  visibilityRefused,
} from "./visibility.ts";
import { vpciBarSizeLies, vpciJunkBusMessages, vpciJunkConfigReads, vpciReadGuestPadding } from "./vpci.ts";
import { vspBogusTransactions, vspNegotiateLie, vspTruncated } from "./vsp.ts";

export const ATTACKS: readonly Attack[] = [
  honestHost,
  // host reads and writes of private pages (and of what the guest shares)
  hostReadsPrivate,
  hostWritesPrivate,
  fakeVtpm,
  hostReadsBouncePages,
  vpciReadGuestPadding,
  // CPUID and MSR lies
  cpuidHideIsolation,
  cpuidFlipParavisor,
  cpuidWrongType,
  cpuidShrinkBoundary,
  msrSynicPagesLie,
  msrJunk,
  // visibility hypercalls that fail or report success without effect; timing
  visibilityRefused,
  visibilityNoEffect,
  visibilityFailsMidway,
  untrustedVisibility,
  stallTransition,
  // ring indices out of range, unaligned or rewound
  ringWriteIndexRange,
  ringWriteIndexUnaligned,
  ringReadIndexLie,
  ringWriteIndexRewound,
  ringControlJunk,
  // len8/offset8 lies
  ringLen8Short,
  ringLen8Beyond,
  ringLen8TooBig,
  ringOffset8Lie,
  // changes after validation (TOCTOU)
  toctouLengthAfterRead,
  toctouLengthAfterValidate,
  toctouOffsetAfterValidate,
  toctouAfterCopy,
  netvscRewriteAfterCheck,
  // malformed, truncated and oversized channel messages
  msgTypeOutOfRange,
  msgNoHandler,
  msgTruncated,
  msgOversized,
  msgRandomJunk,
  untrustedPathClose,
  // bogus transaction ids and completions
  msgUnsolicited,
  vspBogusTransactions,
  storvspBogusCompletions,
  // storvsp replies with bad lengths or sense data
  storvspBadLengths,
  storvspStatusAndSense,
  // VSP responses
  vspNegotiateLie,
  vspTruncated,
  // RNDIS messages with bad offsets; junk vPCI config replies
  rndisBadOffsets,
  netvscXferRanges,
  vpciJunkConfigReads,
  vpciBarSizeLies,
  vpciJunkBusMessages,
  // offers for non-hardened devices; confidential flags; duplicate and unknown relids
  offerNonHardened,
  offerConfidentialFlags,
  relayOfferConfidentialFlags,
  offerDuplicateRelid,
  offerRelidRange,
  rescindUnknown,
  rescindDuringOpen,
  rescindAll,
  untrustedSynicRescind,
  offerRelidCollision,
  // GPADL abuse
  gpadlCreatedUnknown,
  gpadlTorndownLive,
  gpadlRefused,
  gpadlStaleMapping,
  gpadlTeardownRace,
  // illegal interrupts and interrupt storms
  illegalExceptionVectors,
  illegalUnsetVectors,
  interruptStorm,
  stormDuringBoot,
  // SynIC slot abuse
  synicBadTypes,
  synicPendingGames,
  synicFlood,
  // stalls
  stallVersion,
  stallOffers,
  stallGpadl,
  stallOpen,
  stallIc,
  stallTeardown,
];

export function findAttack(name: string): Attack | undefined {
  return ATTACKS.find((a) => a.name === name);
}

export function applies(a: Attack, c: { isolation: string; mode: string }): boolean {
  return a.appliesTo ? a.appliesTo(c as never) : c.isolation !== "none";
}
