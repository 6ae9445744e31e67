// Host reads and writes of the guest's private pages: refused by the platform, or
// ciphertext; never plaintext of a private page.
import { PAGE_SIZE } from "../../platform/page.ts";
import { defineAttack } from "../api.ts";

export const hostReadsPrivate = defineAttack({
  name: "host-read-private",
  description: "the host reads every page of guest memory looking for the guest's secret",
  klass: "host reads and writes of private pages",
  defeatedBy: [],
  after(ctx) {
    const m = ctx.host.memory;
    const buf = new Uint8Array(PAGE_SIZE);
    for (let pfn = 0; pfn < m.pages; pfn++) m.read(pfn * PAGE_SIZE, PAGE_SIZE, buf);
    ctx.note(`read ${m.pages} pages`);
  },
});

export const hostWritesPrivate = defineAttack({
  name: "host-write-private",
  description: "the host overwrites every page of guest memory with its own bytes",
  klass: "host reads and writes of private pages",
  defeatedBy: [],
  after(ctx) {
    const m = ctx.host.memory;
    const junk = ctx.rng.fill(new Uint8Array(PAGE_SIZE));
    let taken = 0;
    // Shared pages legitimately take host writes; the guest's private ones must not.
    const shared = new Set(ctx.host.mappedPages());
    for (let pfn = 0; pfn < m.pages; pfn++) if (!shared.has(pfn) && m.write(pfn * PAGE_SIZE, junk)) taken++;
    ctx.note(`${taken} private pages took the write`);
  },
});
