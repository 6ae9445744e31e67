// A memory-mapped device as whoever emulates it sees it: a range of guest physical
// addresses and byte-level reads and writes at offsets within it. The paravisor
// keeps one map for the devices it emulates (IO-APIC, vTPM; C12), the hypervisor
// one for the devices the host emulates. An access no device claims reads as all
// ones and its writes are dropped, as on a bus with nothing behind the address.

export interface MmioDevice {
  readonly name: string;
  /** First GPA (page aligned for the devices modelled). */
  readonly base: number;
  readonly size: number;
  /** Fill `dst` with the bytes at `offset` (dst.length is the access size). */
  read(offset: number, dst: Uint8Array): void;
  write(offset: number, src: Uint8Array): void;
}

export class MmioMap {
  readonly #devices: MmioDevice[] = [];

  add(d: MmioDevice): void {
    for (const o of this.#devices)
      if (d.base < o.base + o.size && o.base < d.base + d.size)
        throw new Error(`MMIO device ${d.name} overlaps ${o.name}`);
    this.#devices.push(d);
  }

  remove(name: string): void {
    const i = this.#devices.findIndex((d) => d.name === name);
    if (i >= 0) this.#devices.splice(i, 1);
  }

  /** The device whose range holds the whole access, if any. */
  find(gpa: number, len: number): MmioDevice | undefined {
    return this.#devices.find((d) => gpa >= d.base && gpa + len <= d.base + d.size);
  }

  get devices(): readonly MmioDevice[] {
    return this.#devices;
  }

  /** Serve one access; false when no device claims it (reads then see all ones). */
  access(gpa: number, write: boolean, data: Uint8Array): boolean {
    const d = this.find(gpa, data.length);
    if (!d) {
      if (!write) data.fill(0xff);
      return false;
    }
    if (write) d.write(gpa - d.base, data);
    else d.read(gpa - d.base, data);
    return true;
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#devices];
  }
}
