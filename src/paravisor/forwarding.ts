// The paravisor's forwarding pages: hypercalls it passes on to the hypervisor for
// the guest (its trusted dispatcher, C15) go through two VTL2 pages it shares with
// the hypervisor at boot — the top one for the call's input, the one below for its
// output — so the guest's own input and output pages stay private and the
// hypervisor writes only shared memory. The paravisor copies the input in before
// the call and the call's output back into the guest's output page after it.
import { HvCallCode } from "../hyperv/hvgdk.ts";
import { HV_MMIO_READ_OUTPUT } from "../hyperv/hypercall-abi.ts";
import { PAGE_SIZE } from "../platform/page.ts";

/** VTL2 pages at the top of paravisor memory shared for forwarding: input, then output below it. */
export const FORWARDING_PAGES = 2;

/** The input and output forwarding pages' GPAs, from VTL2's first page and size. */
export function forwardingPages(
  paravisorPfn: number,
  paravisorPages: number,
): { input: number; output: number } {
  const top = paravisorPfn + paravisorPages - 1;
  return { input: top * PAGE_SIZE, output: (top - 1) * PAGE_SIZE };
}

/** Bytes of output a forwarded call defines (copied back to the guest); the rest of its output page otherwise. */
const OUTPUT_BYTES: ReadonlyMap<number, number> = new Map([
  [HvCallCode.HVCALL_MMIO_READ, HV_MMIO_READ_OUTPUT.size],
]);

/** How many bytes of a call's output go back to the guest's output page at `outputGpa`. */
export function outputBytes(code: number, outputGpa: number): number {
  const rest = PAGE_SIZE - (outputGpa % PAGE_SIZE);
  return Math.min(OUTPUT_BYTES.get(code) ?? rest, rest);
}
