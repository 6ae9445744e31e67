// What the host may ask of, or put in front of, a paravisor: hypercalls into its
// untrusted dispatcher (which takes only HvPostMessage and HvSignalEvent, C15), and
// a device of the host's own at an address the paravisor emulates privately (the
// vTPM; C12). The paravisor refuses the first and keeps the guest's MMIO to itself.
import { HV_PARTITION_ID_SELF, HvCallCode, HvMemHostVisibility, HvStatus } from "../../hyperv/hvgdk.ts";
import { encodeControl, HV_GPA_RANGE_FOR_VISIBILITY, resultStatus } from "../../hyperv/hypercall-abi.ts";
import { crbMmio } from "../../paravisor/devices.ts";
import { TpmCrb } from "../../paravisor/tpm/crb.ts";
import { VirtualTpm } from "../../paravisor/tpm/engine.ts";
import { type AttackContext, defineAttack } from "../api.ts";
import { paravisor } from "./util.ts";

export const untrustedVisibility = defineAttack({
  name: "untrusted-hypercall-share-memory",
  description: "the host asks the paravisor's untrusted path to make every guest page host-visible",
  klass: "visibility hypercalls that fail or report success without effect",
  defeatedBy: ["untrusted-hypercall-filter"],
  appliesTo: paravisor,
  after(ctx) {
    const per = (HV_GPA_RANGE_FOR_VISIBILITY.size - 16) / 8;
    let served = 0;
    for (let first = 0; first < ctx.host.memory.pages; first += per) {
      const n = Math.min(per, ctx.host.memory.pages - first);
      const block = new Uint8Array(HV_GPA_RANGE_FOR_VISIBILITY.size);
      const dv = new DataView(block.buffer);
      dv.setBigUint64(0, HV_PARTITION_ID_SELF, true);
      dv.setUint32(8, HvMemHostVisibility.VMBUS_PAGE_VISIBLE_READ_WRITE, true);
      for (let i = 0; i < n; i++) dv.setBigUint64(16 + 8 * i, BigInt(first + i), true);
      const control = encodeControl({
        code: HvCallCode.HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY,
        repCount: n,
      });
      if (resultStatus(ctx.hypervisor.callParavisor(0, control, block)) === HvStatus.HV_STATUS_SUCCESS)
        served++;
    }
    ctx.note(`the paravisor served ${served} of the host's visibility calls`);
  },
});

/** The commands each run's fake vTPM saw (setup and after share the run's context). */
const commands = new WeakMap<AttackContext, number[]>();

export const fakeVtpm = defineAttack({
  name: "host-fake-vtpm",
  description:
    "the host emulates a vTPM of its own at the vTPM's MMIO address, hoping the guest's TPM traffic reaches it",
  klass: "host reads and writes of private pages",
  defeatedBy: ["private-mmio"],
  appliesTo: paravisor,
  setup(ctx) {
    const seen: number[] = [];
    commands.set(ctx, seen);
    const tpm = new TpmCrb(new VirtualTpm({ random: (d) => ctx.rng.fill(d) }));
    const execute = tpm.tpm.execute.bind(tpm.tpm);
    tpm.tpm.execute = (cmd) => {
      seen.push(cmd.length);
      return execute(cmd);
    };
    if (!ctx.host.emulateMmio(crbMmio(tpm, "the host's fake vTPM"))) ctx.note("the vTPM's range is taken");
  },
  after(ctx) {
    ctx.note(`the host's fake vTPM saw ${commands.get(ctx)?.length ?? 0} commands`);
  },
});
