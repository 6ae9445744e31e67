// The guest's platform devices at boot, in the kernel's order: the early serial
// console (port I/O), Restricted Injection's #HV handling (SNP, when the VMSA has
// it), the IO-APIC (MMIO), and with a paravisor the vTPM (MMIO) and the check of the
// paravisor's measurement (C25). Each MMIO, port access and (at idle) HLT is an
// exit that, in a CoCo VM, raises #VC/#VE: to the guest's own handler when
// enlightened, to the paravisor otherwise (C10).
import { Label } from "../audit/labels.ts";
import { COM1_BASE, UART_LSR_THRE, UART_REG } from "../hypervisor/ports.ts";
import { digest } from "../paravisor/measurement.ts";
import { restrictedInjectionEnabled, snpInitHvHandling } from "./arch/hv_doorbell.ts";
import { setupIoApic } from "./arch/io_apic.ts";
import { attestParavisor } from "./attest.ts";
import { tpmCrbInit } from "./drivers/tpm_crb.ts";
import type { GuestKernel } from "./kernel.ts";

export type { GuestAttestationState } from "./attest.ts";
export type { GuestTpmState } from "./drivers/tpm_crb.ts";

/** The line the early console prints (sent to the host on purpose: exposed, not secret). */
export const CONSOLE_BANNER = "Linux version 6.19.0-hvcoco\n";

/** early_serial_console's serial_putc(): wait for THRE in LSR, then write THR. */
export function earlyConsoleWrite(k: GuestKernel, text: string): void {
  const cpu = k.hw.cpus[0]!;
  for (const ch of text) {
    for (let i = 0; i < 8; i++) if (cpu.in(COM1_BASE + UART_REG.LSR, 1) & UART_LSR_THRE) break;
    cpu.out(COM1_BASE + UART_REG.THR, 1, ch.charCodeAt(0) & 0xff, Label.EXPOSED);
  }
}

export function guestDevicesInit(k: GuestKernel): void {
  k.step("early console on COM1 (port I/O)");
  earlyConsoleWrite(k, CONSOLE_BANNER);
  if (restrictedInjectionEnabled(k)) {
    k.step("SNP Restricted Injection: #HV doorbell pages");
    snpInitHvHandling(k);
  }
  k.step(`IO-APIC setup (${k.isPrivateMmio ? "private-MMIO callback installed" : "ioremap decides"})`);
  setupIoApic(k);
  if (k.paravisor) {
    k.step("tpm_crb: vTPM startup, random, PCR 10 measurement");
    const measurement = digest("sha256", new TextEncoder().encode(k.bootSteps.join("\n")));
    k.tpm = tpmCrbInit(k, measurement);
    k.step("attest the paravisor (platform report)");
    k.attestation = attestParavisor(k);
  }
}

/** The boot CPU idles once (cpu_idle: safe_halt()): HLT until the next interrupt. */
export function guestIdle(k: GuestKernel): void {
  k.step("idle: HLT");
  k.hw.cpus[0]!.hlt();
}
