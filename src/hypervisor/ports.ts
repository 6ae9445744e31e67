// The I/O ports the host emulates, as far as the model's guests use them: the COM1
// serial port the early console writes to (PC16550D UART; Linux
// arch/x86/boot/early_serial_console.c and drivers/tty/serial/8250: the guest polls
// LSR for THRE, then writes THR). Every other port reads as all ones and ignores
// writes, like an ISA bus with nothing decoding the address.

/** COM1 base (legacy ISA serial port 0). */
export const COM1_BASE = 0x3f8;
/** UART register offsets from the base (DLAB = 0). */
export const UART_REG = { THR: 0, RBR: 0, IER: 1, IIR: 2, LCR: 3, MCR: 4, LSR: 5, MSR: 6, SCR: 7 } as const;
/** LSR bits: 5 THRE (transmit holding register empty), 6 TEMT (transmitter empty). */
export const UART_LSR_THRE = 0x20;
export const UART_LSR_TEMT = 0x40;

export class HostPorts {
  /** What the guest wrote to COM1, as the host's console log shows it. */
  console = "";
  #scratch = 0;
  #lcr = 0;
  #ier = 0;

  in(port: number, size: 1 | 2 | 4): number {
    const ones = size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    if (port < COM1_BASE || port > COM1_BASE + 7) return ones;
    switch (port - COM1_BASE) {
      case UART_REG.LSR:
        return UART_LSR_THRE | UART_LSR_TEMT;
      case UART_REG.LCR:
        return this.#lcr;
      case UART_REG.IER:
        return this.#ier;
      case UART_REG.SCR:
        return this.#scratch;
      default:
        return 0;
    }
  }

  out(port: number, _size: 1 | 2 | 4, value: number): void {
    if (port < COM1_BASE || port > COM1_BASE + 7) return;
    const v = value & 0xff;
    switch (port - COM1_BASE) {
      case UART_REG.THR:
        if ((this.#lcr & 0x80) === 0 && this.console.length < 65536) this.console += String.fromCharCode(v);
        return;
      case UART_REG.LCR:
        this.#lcr = v;
        return;
      case UART_REG.IER:
        this.#ier = v & 0x0f;
        return;
      case UART_REG.SCR:
        this.#scratch = v;
        return;
    }
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#scratch, this.#lcr, this.#ier];
  }
  load(s: unknown[]): void {
    this.#scratch = s[0] as never;
    this.#lcr = s[1] as never;
    this.#ier = s[2] as never;
  }
}
