// The guest's standard workload under observation: a secret in private memory
// whose integrity can be checked afterwards, stored on the guest's disk where that
// disk is the paravisor's. Attacks and `hvcoco run` share it.
import { Label } from "../audit/labels.ts";
import type { ScsiDisk, ScsiHost } from "../guest/drivers/storvsc/sd.ts";
import { scsiHostOf } from "../guest/drivers/storvsc.ts";
import { PAGE_SIZE } from "../platform/page.ts";
import type { Vm } from "./vm.ts";

export interface Secret {
  gpa: number;
  bytes: Uint8Array;
}

/** Put a page of key material (from the run's PRNG) in the guest's private memory. */
export function plantSecret(vm: Vm): Secret {
  const pfn = vm.guest.alloc.alloc(1);
  if (pfn === undefined) throw new Error("no guest memory for the secret");
  const bytes = vm.prng.fork().fill(new Uint8Array(PAGE_SIZE));
  vm.guest.hw.mem.write(pfn * PAGE_SIZE, bytes, Label.SECRET);
  return { gpa: pfn * PAGE_SIZE, bytes };
}

/** The guest re-reads its secret: false if anything changed it. */
export function secretIntact(vm: Vm, s: Secret): boolean {
  return sameBytes(vm.guest.hw.mem.read(s.gpa, s.bytes.length), s.bytes);
}

/** a and b hold the same bytes (a word at a time where both are aligned). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let i = 0;
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const n = a.length >> 2;
    const wa = new Int32Array(a.buffer, a.byteOffset, n);
    const wb = new Int32Array(b.buffer, b.byteOffset, n);
    for (; i < n; i++) if (wa[i] !== wb[i]) return false;
    i = n << 2;
  }
  for (; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * What the guest's other CPUs do while one of them converts memory: string and
 * word-at-a-time code reads past the end of buffers with load_unaligned_zeropad(),
 * so a read that starts on the page before a converting page runs into it. The
 * host cannot make the guest do this; it can only stall the conversion at a point
 * where it is likely (`stallAt`).
 */
export function strayReadIntoPage(vm: Vm, pfn: number): void {
  const mem = vm.guest.hw.mem;
  if (pfn < 1 || mem.check(pfn - 1, false) !== undefined) return;
  mem.loadUnalignedZeropad(pfn * PAGE_SIZE - 3);
}

/** The block of its disk where the guest keeps its key page. */
export const SECRET_LBA = 64;

/**
 * The guest's disk when it is one the host cannot reach: the paravisor's, on an
 * encrypted ring (Confidential VMBus). A host's disk gets no key material.
 */
function trustedDisk(vm: Vm): { host: ScsiHost; disk: ScsiDisk } | undefined {
  const host = scsiHostOf(vm.guest);
  const disk = host?.disks[0];
  if (!host || !disk || !host.dev.ch.coRingBuffer || disk.writeProtect) return undefined;
  return { host, disk };
}

/**
 * Where the guest's disk is the paravisor's, it stores its key page there and reads
 * it back (C24, C26, C27: data the host must never see on its way). False when
 * there is no such disk or the round trip failed.
 */
export function storeSecret(vm: Vm, s: Secret): boolean {
  const t = trustedDisk(vm);
  if (!t) return false;
  const blocks = s.bytes.length / t.disk.blockSize;
  if (!t.host.write(t.disk, SECRET_LBA, blocks, s.gpa).ok) return false;
  return storedSecretIntact(vm, s);
}

/** The guest reads its key page back from the paravisor's disk: true when it is what it stored. */
export function storedSecretIntact(vm: Vm, s: Secret): boolean {
  const t = trustedDisk(vm);
  const pfn = vm.guest.alloc.alloc(1);
  if (!t || pfn === undefined) return false;
  const gpa = pfn * PAGE_SIZE;
  try {
    const r = t.host.read(t.disk, SECRET_LBA, s.bytes.length / t.disk.blockSize, gpa);
    if (!r.ok) return false;
    return sameBytes(vm.guest.hw.mem.read(gpa, s.bytes.length), s.bytes);
  } finally {
    vm.guest.alloc.free(pfn, 1);
  }
}
