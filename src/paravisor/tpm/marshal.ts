// Big-endian marshalling for the TPM wire. The reader never reads outside the
// bytes it was given: running short is the TPM's own TPM_RC_INSUFFICIENT, carried
// by a TpmAbort that the command executor turns into a response. Nothing here is
// allowed to throw anything else for any input bytes.

import { TPM_RC } from "./constants.ts";

/**
 * A TPM response code travelling up from the unmarshalling or action code to the
 * executor, which returns it in a response. It is a value of the TPM protocol, not
 * a simulator failure: only TpmExecutor catches it.
 */
export class TpmAbort extends Error {
  readonly rc: number;
  constructor(rc: number) {
    super(`TPM_RC 0x${rc.toString(16).padStart(3, "0")}`);
    this.name = "TpmAbort";
    this.rc = rc;
  }
}

/** Add a handle/parameter/session locator to a format-one response code (RcSafeAddToResult). */
export function rcWith(rc: number, modifier: number): number {
  return (rc & 0x080) !== 0 ? rc + modifier : rc;
}

/** Run `fn`; if it aborts with a format-one code, add `modifier` (TPM_RC_P + TPM_RC_n and similar). */
export function locate<T>(modifier: number, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TpmAbort) throw new TpmAbort(rcWith(e.rc, modifier));
    throw e;
  }
}

export class TpmReader {
  readonly #buf: Uint8Array;
  #pos: number;
  readonly #end: number;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.#buf = buf;
    this.#pos = start;
    this.#end = end;
  }

  get position(): number {
    return this.#pos;
  }

  get remaining(): number {
    return this.#end - this.#pos;
  }

  #need(n: number): number {
    if (this.#end - this.#pos < n) throw new TpmAbort(TPM_RC.INSUFFICIENT);
    const at = this.#pos;
    this.#pos += n;
    return at;
  }

  u8(): number {
    return this.#buf[this.#need(1)]!;
  }

  u16(): number {
    const at = this.#need(2);
    return (this.#buf[at]! << 8) | this.#buf[at + 1]!;
  }

  u32(): number {
    const at = this.#need(4);
    return (
      ((this.#buf[at]! << 24) |
        (this.#buf[at + 1]! << 16) |
        (this.#buf[at + 2]! << 8) |
        this.#buf[at + 3]!) >>>
      0
    );
  }

  /** A copy of the next n bytes. */
  bytes(n: number): Uint8Array {
    const at = this.#need(n);
    return this.#buf.slice(at, at + n);
  }

  /** A TPM2B_*: u16 size, then size bytes; size above `max` is TPM_RC_SIZE. */
  sized(max: number): Uint8Array {
    const n = this.u16();
    if (n > max) throw new TpmAbort(TPM_RC.SIZE);
    return this.bytes(n);
  }

  /** A reader over the next n bytes, advancing this one past them. */
  sub(n: number): TpmReader {
    const at = this.#need(n);
    return new TpmReader(this.#buf, at, at + n);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#buf, this.#pos, this.#end];
  }
  load(s: unknown[]): void {
    this.#pos = s[1] as never;
  }
}

export class TpmWriter {
  #buf = new Uint8Array(64);
  #len = 0;

  get length(): number {
    return this.#len;
  }

  #grow(n: number): number {
    if (this.#len + n > this.#buf.length) {
      const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + n));
      next.set(this.#buf.subarray(0, this.#len));
      this.#buf = next;
    }
    const at = this.#len;
    this.#len += n;
    return at;
  }

  u8(v: number): this {
    const at = this.#grow(1);
    this.#buf[at] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    const at = this.#grow(2);
    this.#buf[at] = (v >>> 8) & 0xff;
    this.#buf[at + 1] = v & 0xff;
    return this;
  }

  u32(v: number): this {
    const at = this.#grow(4);
    this.#buf[at] = (v >>> 24) & 0xff;
    this.#buf[at + 1] = (v >>> 16) & 0xff;
    this.#buf[at + 2] = (v >>> 8) & 0xff;
    this.#buf[at + 3] = v & 0xff;
    return this;
  }

  bytes(b: Uint8Array): this {
    // #grow may replace #buf: take the offset before touching the buffer.
    const at = this.#grow(b.length);
    this.#buf.set(b, at);
    return this;
  }

  /** A TPM2B_*: u16 size then the bytes. */
  sized(b: Uint8Array): this {
    return this.u16(b.length).bytes(b);
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#buf, this.#len];
  }
  load(s: unknown[]): void {
    this.#buf = s[0] as never;
    this.#len = s[1] as never;
  }
}
