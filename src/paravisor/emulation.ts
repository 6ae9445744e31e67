// The paravisor's emulation of the guest's device exits (C10, C12): MMIO, port I/O
// and HLT that a paravisor-mode guest raises (#VC reflected to VMPL0 on SNP, an L2
// exit to L1 on TDX) come here, never to the guest's own handler.
//
//  - MMIO through an encrypted mapping to a device the paravisor emulates (the
//    IO-APIC at 0xFEC00000, the vTPM's CRB at 0xFED40000; hv_is_private_mmio()) is
//    served here, and its bytes never leave the CVM. Encrypted MMIO no device claims
//    is not passed to the host (the guest meant it private): reads see all ones.
//  - MMIO through a decrypted mapping (the shared alias above vTOM / the TDX shared
//    bit) is host MMIO: passed to the hypervisor, which sees the data.
//  - Port I/O goes to the host's devices; HLT idles the VP through the hypervisor.
import type { Auditor } from "../audit/auditor.ts";
import type { HypervisorExit } from "../guest/hardware.ts";
import type { CocoException, IoInstr, MmioInstr, Resolution } from "../platform/exceptions.ts";
import { MmioMap } from "../platform/mmio.ts";
import { crbMmio, ioapicMmio } from "./devices.ts";
import { IoApic, type IoApicSink } from "./ioapic.ts";
import { TpmCrb } from "./tpm/crb.ts";
import { VirtualTpm } from "./tpm/engine.ts";

export interface DeviceEmulationStats {
  /** MMIO accesses served by the paravisor's own devices. */
  mmioEmulated: number;
  /** MMIO accesses passed on to the hypervisor (shared mappings). */
  mmioForwarded: number;
  /** Encrypted MMIO no paravisor device claims (kept in the CVM, reads all ones). */
  mmioUnclaimed: number;
  ioForwarded: number;
  halts: number;
}

export class DeviceEmulation {
  readonly mmio = new MmioMap();
  readonly ioapic: IoApic;
  readonly tpm: VirtualTpm;
  readonly crb: TpmCrb;
  readonly stats: DeviceEmulationStats = {
    mmioEmulated: 0,
    mmioForwarded: 0,
    mmioUnclaimed: 0,
    ioForwarded: 0,
    halts: 0,
  };
  readonly #audit: Auditor;

  constructor(audit: Auditor, random: (dst: Uint8Array) => void, deliver: IoApicSink) {
    this.#audit = audit;
    this.ioapic = new IoApic(deliver);
    this.tpm = new VirtualTpm({ random });
    this.crb = new TpmCrb(this.tpm);
    this.mmio.add(ioapicMmio(this.ioapic));
    this.mmio.add(crbMmio(this.crb));
  }

  handle(
    e: CocoException,
    i: MmioInstr | IoInstr | { kind: "hlt"; done?: boolean },
    exit: HypervisorExit,
  ): Resolution {
    switch (i.kind) {
      case "mmio":
        return this.#mmio(e.vp, i, exit);
      case "io":
        this.stats.ioForwarded++;
        i.value = exit.io(e.vp, i.port, i.size, i.write, i.value, i.label);
        i.done = true;
        return { handled: true, how: "emulated" };
      case "hlt":
        this.stats.halts++;
        exit.hlt(e.vp);
        i.done = true;
        return { handled: true, how: "emulated" };
    }
  }

  #mmio(vp: number, i: MmioInstr, exit: HypervisorExit): Resolution {
    if (!i.encrypted) {
      this.stats.mmioForwarded++;
      exit.mmio(vp, i.gpa, i.write, i.data, i.labels);
      i.done = true;
      return { handled: true, how: "emulated" };
    }
    const d = this.mmio.find(i.gpa, i.data.length);
    this.#audit.boundary.cross(
      "mmio",
      "guest",
      "paravisor",
      `${i.write ? "write" : "read"} 0x${i.gpa.toString(16)}`,
      () => ({ vp, len: i.data.length, device: d?.name ?? "none" }),
    );
    if (!d) {
      this.stats.mmioUnclaimed++;
      if (!i.write) i.data.fill(0xff);
    } else {
      this.stats.mmioEmulated++;
      if (i.write) d.write(i.gpa - d.base, i.data);
      else d.read(i.gpa - d.base, i.data);
    }
    i.done = true;
    return { handled: true, how: "emulated" };
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#audit];
  }
}
