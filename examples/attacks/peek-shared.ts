// A worked example of an attack script (docs/attacks.md walks through it):
// the hypervisor lies that every page is private on... no: it simply watches every
// transition the guest makes and reads each page the moment the guest shares it,
// hoping to catch whatever the guest left there before the conversion.
import type { Attack } from "../../src/adversary/api.ts";

const attack: Attack = {
  name: "peek-shared",
  description: "read every page the instant the guest shares it",
  klass: "host reads of shared pages",
  defeatedBy: [],
  setup(ctx) {
    let pages = 0;
    ctx.at("set_memory:done", (d) => {
      if (d["enc"] !== 0) return;
      const pfn = Number(d["pfn"]);
      const count = Number(d["count"]);
      const buf = new Uint8Array(4096);
      for (let i = 0; i < Math.min(count, 64); i++) ctx.host.memory.read((pfn + i) * 4096, 4096, buf);
      pages += Math.min(count, 64);
    });
    ctx.at("set_memory:begin", () => ctx.note(`peeked at ${pages} freshly shared pages so far`));
  },
};

export default attack;
