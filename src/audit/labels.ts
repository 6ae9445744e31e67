// Byte labels: every byte of guest data carries one. The platform keeps a label
// array beside each page's data; the auditor reads them to decide what a host
// read revealed. Labels are the auditor's, not the model's: no actor branches on them.

/** The label of one byte of guest data (one byte each in a page's label array). */
export const Label = {
  /** Guest data the host must never read in plaintext (the default label of a guest write). */
  SECRET: 0,
  /** Written by the guest deliberately for the host: protocol fields, zeroed padding. */
  PUBLIC: 1,
  /** An I/O payload the guest sends in the clear on purpose (counted apart from leaks). */
  EXPOSED: 2,
  /** Bytes the host (or hypervisor) wrote, or that the guest never wrote (fresh zeros): they reveal nothing. */
  HOST: 3,
} as const;
export type Label = (typeof Label)[keyof typeof Label];

export const LABEL_NAMES: Record<Label, string> = {
  0: "secret",
  1: "public",
  2: "exposed",
  3: "host",
};

/** Byte search at memchr speed (Node's Buffer search works on any Uint8Array; a plain search elsewhere). */
const indexOfByte: (a: Uint8Array, v: number, from: number) => number =
  typeof Buffer === "function"
    ? (a, v, from) => Buffer.prototype.indexOf.call(a, v, from)
    : (a, v, from) => a.indexOf(v, from);

/** The other label values, per label (a label array holds nothing else). */
const OTHERS: readonly (readonly number[])[] = [
  [1, 2, 3],
  [0, 2, 3],
  [0, 1, 3],
  [0, 1, 2],
];

/** Whether every byte of `labels` is `label` (memchr-speed searches for the other labels). */
export function uniformLabels(labels: Uint8Array, label: number): boolean {
  const others = OTHERS[label];
  if (!others) return false;
  for (const o of others) if (indexOfByte(labels, o, 0) >= 0) return false;
  return true;
}

/**
 * Count the bytes of `labels` that carry `label`: a few memchr-speed searches per
 * run of equal labels (a page or an I/O buffer is mostly one run), a plain loop
 * once the labels turn out to be fragmented.
 */
export function countLabel(labels: Uint8Array, label: Label): number {
  let at = indexOfByte(labels, label, 0);
  if (at < 0) return 0;
  const others = OTHERS[label]!;
  const len = labels.length;
  let n = 0;
  for (let runs = 0; runs < 4; runs++) {
    let end = len;
    for (const o of others) {
      const j = indexOfByte(labels, o, at);
      if (j >= 0 && j < end) end = j;
    }
    n += end - at;
    if (end >= len) return n;
    at = indexOfByte(labels, label, end);
    if (at < 0) return n;
  }
  for (; at < len; at++) if (labels[at] === label) n++;
  return n;
}
