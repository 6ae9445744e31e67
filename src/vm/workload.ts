// The guest's standard workload under observation: a secret in private memory
// whose integrity can be checked afterwards. Attacks and `hvcoco run` share it.
import { Label } from "../audit/labels.ts";
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
  const now = vm.guest.hw.mem.read(s.gpa, s.bytes.length);
  for (let i = 0; i < now.length; i++) if (now[i] !== s.bytes[i]) return false;
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
