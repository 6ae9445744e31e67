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

/** Count the bytes of `labels` that carry `label` (memchr-speed when there are none). */
export function countLabel(labels: Uint8Array, label: Label): number {
  let at = labels.indexOf(label);
  if (at < 0) return 0;
  let n = 0;
  for (; at < labels.length; at++) if (labels[at] === label) n++;
  return n;
}
