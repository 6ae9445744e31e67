// The guest's requestor table (struct vmbus_requestor; vmbus_next_request_id and
// vmbus_request_addr in drivers/hv/channel.c). A request sent with
// COMPLETION_REQUESTED gets the transaction id slot+1 (id 0 is what the host uses for
// unsolicited packets); the completion carries the id back. The id comes from the
// host, so it is checked before it is used as an index: out of range or not
// outstanding is a typed fault, never a lookup of a wrong or stale request.
import { fault, type VmbusFault } from "../../vmbus/errors.ts";

export class RequestorTable<T> {
  readonly size: number;
  // Slots grow with use (Linux allocates all `size` up front; the ids handed out
  // are the same): slots below #fresh have been used, those from it on never have.
  readonly #values: (T | undefined)[] = [];
  /** Released slots as a stack: #next[i] is the released slot after i (-1: none). */
  readonly #next: number[] = [];
  readonly #outstanding: number[] = [];
  #free = -1;
  #fresh = 0;
  #count = 0;

  constructor(size: number) {
    if (!(Number.isInteger(size) && size > 0 && size < 0x7fffffff)) throw new Error(`requestor size ${size}`);
    this.size = size;
  }

  /** Requests outstanding. */
  get outstanding(): number {
    return this.#count;
  }

  /** vmbus_next_request_id: store `value`, return its id (slot+1), or 0 when the table is full. */
  next(value: T): number {
    let slot = this.#free;
    if (slot >= 0) this.#free = this.#next[slot]!;
    else if (this.#fresh < this.size) slot = this.#fresh++;
    else return 0;
    this.#values[slot] = value;
    this.#outstanding[slot] = 1;
    this.#count++;
    return slot + 1;
  }

  #slot(idLo: number, idHi: number): number | VmbusFault {
    if (idHi !== 0 || idLo === 0 || idLo > this.size)
      return fault(
        "HVCOCO_ERR_RQST_ID_RANGE",
        `transaction id 0x${idHi.toString(16)}_${idLo.toString(16).padStart(8, "0")} not in [1, ${this.size}]`,
      );
    const slot = idLo - 1;
    if (slot >= this.#fresh || this.#outstanding[slot] === 0)
      return fault("HVCOCO_ERR_RQST_NOT_OUTSTANDING", `transaction id ${idLo}: no request outstanding`);
    return slot;
  }

  /** Look a host-supplied id up without releasing it. */
  peek(idLo: number, idHi = 0): T | VmbusFault {
    const s = this.#slot(idLo >>> 0, idHi >>> 0);
    return typeof s === "number" ? (this.#values[s] as T) : s;
  }

  /** vmbus_request_addr: validate a host-supplied id (as two u32 halves), release the slot, return its value. */
  take(idLo: number, idHi = 0): T | VmbusFault {
    const s = this.#slot(idLo >>> 0, idHi >>> 0);
    if (typeof s !== "number") return s;
    const v = this.#values[s] as T;
    this.#values[s] = undefined;
    this.#outstanding[s] = 0;
    this.#next[s] = this.#free;
    this.#free = s;
    this.#count--;
    return v;
  }

  /** take() with a u64 id. */
  takeId(id: bigint): T | VmbusFault {
    const u = BigInt.asUintN(64, id);
    return this.take(Number(u & 0xffffffffn), Number(u >> 32n));
  }

  /** Snapshot (src/vm/snapshot.ts): the private fields, by reference; the snapshot copies what they hold. */
  save(): unknown[] {
    return [this.#values, this.#next, this.#outstanding, this.#free, this.#fresh, this.#count];
  }
  load(s: unknown[]): void {
    this.#free = s[3] as never;
    this.#fresh = s[4] as never;
    this.#count = s[5] as never;
  }
}
