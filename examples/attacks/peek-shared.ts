// A worked example of an attack script (docs/attacks.md walks through it): the host
// reads every page the moment the guest shares it, hoping to find whatever the
// guest left there before the conversion.
import type { Attack } from "../../src/adversary/api.ts";

let pages = 0;

const attack: Attack = {
  name: "peek-shared",
  description: "read every page the instant the guest shares it",
  klass: "host reads of shared pages",
  defeatedBy: [],
  setup(ctx) {
    pages = 0;
    ctx.at("set_memory:done", (d) => {
      if (d["enc"] !== 0) return; // only conversions to shared
      const pfn = Number(d["pfn"]);
      const n = Math.min(Number(d["count"]), 64);
      const buf = new Uint8Array(4096);
      for (let i = 0; i < n; i++) ctx.host.memory.read((pfn + i) * 4096, 4096, buf);
      pages += n;
    });
  },
  after(ctx) {
    ctx.note(`peeked at ${pages} freshly shared pages`);
  },
};

export default attack;
