// The guest stopped itself (panic / sev_es_terminate): an outcome the VM records.
export class GuestPanic extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GuestPanic";
  }
}
