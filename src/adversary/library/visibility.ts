// Visibility and page-state changes the hypervisor fails, or claims without doing,
// and stalls in the middle of a conversion.

import { HvCallCode, HvStatus } from "../../hyperv/hvgdk.ts";
import { encodeResult } from "../../hyperv/hypercall-abi.ts";
import { defineAttack } from "../api.ts";

const coco = (c: { isolation: string }) => c.isolation !== "none";

export const visibilityRefused = defineAttack({
  name: "visibility-refused",
  description: "the hypervisor fails every host-visibility hypercall and page-state change",
  klass: "visibility hypercalls that fail or report success without effect",
  defeatedBy: [],
  appliesTo: coco,
  setup(ctx) {
    ctx.hypervisor.interpose({
      hypercall: (i) =>
        i.code === HvCallCode.HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY && i.from !== "host"
          ? encodeResult(HvStatus.HV_STATUS_INSUFFICIENT_MEMORY)
          : undefined,
      pageStateChange: (_vp, _pfn, _n, _to, from) => (from === "guest" ? false : undefined),
    });
  },
});

export const visibilityNoEffect = defineAttack({
  name: "visibility-success-without-effect",
  description: "the hypervisor reports success for host-visibility changes it never makes",
  klass: "visibility hypercalls that fail or report success without effect",
  defeatedBy: [],
  appliesTo: (c) => c.isolation !== "none" && c.mode === "paravisor",
  setup(ctx) {
    let lied = 0;
    ctx.hypervisor.interpose({
      hypercall: (i) => {
        if (i.code !== HvCallCode.HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY) return undefined;
        lied++;
        return encodeResult(HvStatus.HV_STATUS_SUCCESS, 510);
      },
    });
    ctx.at("set_memory:done", () => ctx.note(`visibility lies so far: ${lied}`));
  },
});

export const stallTransition = defineAttack({
  name: "stall-mid-transition",
  description:
    "the hypervisor stalls each encryption transition after the PTE change, while the guest's other CPUs read",
  klass: "timing: acting between the guest's steps",
  defeatedBy: ["not-present"],
  appliesTo: coco,
  setup(ctx) {
    // Native SNP shares the page before its PTE changes, TDX and Hyper-V after.
    ctx.hypervisor.stallAt(
      ctx.config.isolation === "snp" && ctx.config.mode === "enlightened"
        ? "set_memory:prepared"
        : "set_memory:pte-changed",
    );
  },
});

export const visibilityFailsMidway = defineAttack({
  name: "visibility-fails-during-ring-decrypt",
  description:
    "the hypervisor fails the conversion of the first channel ring the guest decrypts, leaving its pages half-converted",
  klass: "visibility hypercalls that fail or report success without effect",
  defeatedBy: ["leak-failed-conversions"],
  appliesTo: coco,
  setup(ctx) {
    // Armed from the start of the first 8-page decryption (a utility channel's two
    // 16 KiB rings) to its end: every visibility call or page-state change fails.
    let armed = false;
    let done = false;
    ctx.at("set_memory:begin", (d) => {
      if (done || d["enc"] !== 0 || d["count"] !== 8) return;
      armed = done = true;
      ctx.note(`failing the decryption of pfn 0x${Number(d["pfn"]).toString(16)}`);
    });
    ctx.at("set_memory:done", () => {
      armed = false;
    });
    ctx.hypervisor.interpose({
      hypercall: (i) =>
        armed && i.code === HvCallCode.HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY && i.from !== "host"
          ? encodeResult(HvStatus.HV_STATUS_INSUFFICIENT_MEMORY)
          : undefined,
      pageStateChange: (_vp, _pfn, _n, _to, from) => (armed && from === "guest" ? false : undefined),
    });
  },
});
