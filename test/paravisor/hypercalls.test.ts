// C15: enlightened, hypercalls go straight to the hypervisor; with a paravisor they
// trap to it first (its trusted dispatcher serves or forwards them), except
// post-message and signal-event, which the guest sends directly (GHCB on SNP,
// TDVMCALL on TDX). From its untrusted path (through the hypervisor) the paravisor
// accepts only HvPostMessage and HvSignalEvent.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Label } from "../../src/audit/labels.ts";
import {
  hvDoHypercall,
  hvMarkGpaVisibility,
  hvPostMessage,
  hvSignalEvent,
} from "../../src/guest/hypercall.ts";
import { GuestPanic } from "../../src/guest/panic.ts";
import { HV_PARTITION_ID_SELF, HvCallCode, HvMemHostVisibility, HvStatus } from "../../src/hyperv/hvgdk.ts";
import {
  encodeControl,
  HV_GPA_RANGE_FOR_VISIBILITY,
  HV_INPUT_POST_MESSAGE,
  resultStatus,
} from "../../src/hyperv/hypercall-abi.ts";
import { GuestCrash } from "../../src/platform/exceptions.ts";
import { PAGE_SIZE, PageFlag, PageState } from "../../src/platform/page.ts";
import { bootVm } from "../helpers.ts";

/** Counters by route, to take differences of. */
function routes(vm: ReturnType<typeof bootVm>) {
  const hv = vm.hypervisor;
  return {
    ghcb: hv.byPath.ghcb,
    tdvmcall: hv.byPath.tdvmcall,
    vmcall: hv.byPath.vmcall,
    fromGuest: hv.byCaller.guest,
    fromParavisor: hv.byCaller.paravisor,
    pvServed: vm.paravisor?.served ?? 0,
    pvForwarded: vm.paravisor?.forwarded ?? 0,
    guestExceptions: vm.platform.exceptions.guest,
  };
}

function delta(a: ReturnType<typeof routes>, b: ReturnType<typeof routes>) {
  return Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - a[k as keyof typeof a]]));
}

function postMessageInput(conn: number, payload: number[]): Uint8Array {
  const o = HV_INPUT_POST_MESSAGE.off;
  const b = new Uint8Array(o.payload + payload.length);
  const dv = new DataView(b.buffer);
  dv.setUint32(o.connectionid, conn, true);
  dv.setUint32(o.message_type, 1, true);
  dv.setUint32(o.payload_size, payload.length, true);
  b.set(payload, o.payload);
  return b;
}

test("C15: enlightened, hypercalls go straight to the hypervisor: VMMCALL through the guest's #VC and GHCB on SNP, TDVMCALL on TDX", () => {
  for (const iso of ["snp", "tdx"] as const) {
    const vm = bootVm({ isolation: iso, mode: "enlightened" });
    const k = vm.guest;
    const before = routes(vm);
    assert.equal(hvPostMessage(k, 0, 0x1234, 1, new Uint8Array(8)), HvStatus.HV_STATUS_INVALID_CONNECTION_ID);
    assert.equal(hvSignalEvent(k, 0, 0x1234), HvStatus.HV_STATUS_INVALID_CONNECTION_ID);
    const d = delta(before, routes(vm));
    assert.deepEqual(
      d,
      iso === "snp"
        ? {
            ghcb: 2,
            tdvmcall: 0,
            vmcall: 0,
            fromGuest: 2,
            fromParavisor: 0,
            pvServed: 0,
            pvForwarded: 0,
            guestExceptions: 2,
          }
        : {
            ghcb: 0,
            tdvmcall: 2,
            vmcall: 0,
            fromGuest: 2,
            fromParavisor: 0,
            pvServed: 0,
            pvForwarded: 0,
            guestExceptions: 0,
          },
      iso,
    );
  }
});

test("C15: with a paravisor, hypercalls trap to it and it serves or forwards them; post-message and signal-event go directly by GHCB / TDVMCALL", () => {
  for (const iso of ["snp", "tdx"] as const) {
    const vm = bootVm({ isolation: iso, mode: "paravisor" });
    const k = vm.guest;
    // A visibility change: served by the paravisor (its privileged half), then forwarded.
    const pfn = k.alloc.alloc(1)!;
    let before = routes(vm);
    assert.equal(hvMarkGpaVisibility(k, 0, [pfn], HvMemHostVisibility.VMBUS_PAGE_VISIBLE_READ_WRITE), 0);
    assert.deepEqual(delta(before, routes(vm)), {
      ghcb: iso === "snp" ? 1 : 0,
      tdvmcall: iso === "tdx" ? 1 : 0,
      vmcall: 0,
      fromGuest: 0,
      fromParavisor: 1,
      pvServed: 1,
      pvForwarded: 1,
      guestExceptions: 0,
    });
    // Any other call through the hypercall page also goes to the paravisor first.
    before = routes(vm);
    const r = hvDoHypercall(k, 0, BigInt(HvCallCode.HVCALL_GET_PARTITION_ID), k.percpu[0]!.inputPage, 0);
    assert.equal(resultStatus(r), HvStatus.HV_STATUS_INVALID_HYPERCALL_CODE);
    assert.equal(delta(before, routes(vm)).pvServed, 1);
    // Post-message and signal-event bypass the paravisor: the special direct sequence.
    before = routes(vm);
    assert.equal(hvPostMessage(k, 0, 0x1234, 1, new Uint8Array(8)), HvStatus.HV_STATUS_INVALID_CONNECTION_ID);
    assert.equal(hvSignalEvent(k, 0, 0x1234), HvStatus.HV_STATUS_INVALID_CONNECTION_ID);
    assert.deepEqual(delta(before, routes(vm)), {
      ghcb: iso === "snp" ? 2 : 0,
      tdvmcall: iso === "tdx" ? 2 : 0,
      vmcall: 0,
      fromGuest: 2,
      fromParavisor: 0,
      pvServed: 0,
      pvForwarded: 0,
      guestExceptions: 0,
    });
  }
});

test("C15: from its untrusted path the paravisor accepts only HvPostMessage and HvSignalEvent", () => {
  for (const iso of ["snp", "tdx"] as const) {
    const vm = bootVm({ isolation: iso, mode: "paravisor" });
    const pv = vm.paravisor!;
    const got: string[] = [];
    pv.untrustedPostMessage = (_vp, conn, type, payload) => {
      got.push(`post ${conn}/${type}/${payload.length}`);
      return HvStatus.HV_STATUS_SUCCESS;
    };
    pv.untrustedSignalEvent = (_vp, conn, flag) => {
      got.push(`signal ${conn}/${flag}`);
      return HvStatus.HV_STATUS_SUCCESS;
    };
    const hv = vm.hypervisor;
    const post = hv.toParavisor(0, BigInt(HvCallCode.HVCALL_POST_MESSAGE), postMessageInput(7, [1, 2, 3]));
    const sig = new Uint8Array(8);
    new DataView(sig.buffer).setBigUint64(0, 7n | (3n << 32n), true);
    const signal = hv.toParavisor(0, BigInt(HvCallCode.HVCALL_SIGNAL_EVENT), sig);
    assert.equal(resultStatus(post), HvStatus.HV_STATUS_SUCCESS);
    assert.equal(resultStatus(signal), HvStatus.HV_STATUS_SUCCESS);
    assert.deepEqual(got, ["post 7/1/3", "signal 7/3"]);
    // Everything else is refused: a visibility change of a guest page, starting a VP.
    const k = vm.guest;
    const pfn = k.alloc.alloc(1)!;
    const block = new Uint8Array(HV_GPA_RANGE_FOR_VISIBILITY.size);
    const dv = new DataView(block.buffer);
    dv.setBigUint64(0, HV_PARTITION_ID_SELF, true);
    dv.setUint32(8, HvMemHostVisibility.VMBUS_PAGE_VISIBLE_READ_WRITE, true);
    dv.setBigUint64(16, BigInt(pfn), true);
    const vis = hv.toParavisor(
      0,
      encodeControl({ code: HvCallCode.HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY, repCount: 1 }),
      block,
    );
    const start = hv.toParavisor(0, BigInt(HvCallCode.HVCALL_START_VP), new Uint8Array(64));
    assert.equal(resultStatus(vis), HvStatus.HV_STATUS_INVALID_HYPERCALL_CODE);
    assert.equal(resultStatus(start), HvStatus.HV_STATUS_INVALID_HYPERCALL_CODE);
    assert.equal(pv.untrusted.accepted, 2);
    assert.equal(pv.untrusted.refused, 2);
    // The guest's page is untouched: still private and usable.
    assert.equal(vm.platform.memory.flags(pfn) & PageFlag.STATE_MASK, PageState.PRIVATE);
    k.hw.mem.write(pfn * PAGE_SIZE, new Uint8Array(16).fill(7), Label.SECRET);
    assert.deepEqual([...k.hw.mem.read(pfn * PAGE_SIZE, 2)], [7, 7]);
  }
});

test("C15 negative control: without the untrusted filter the host has the paravisor share a guest page behind its back, and the guest dies on its next access", () => {
  const vm = bootVm({ isolation: "snp", mode: "paravisor", unharden: ["untrusted-hypercall-filter"] });
  const k = vm.guest;
  const pfn = k.alloc.alloc(1)!;
  k.hw.mem.write(pfn * PAGE_SIZE, new Uint8Array(PAGE_SIZE).fill(0x5a), Label.SECRET);
  const block = new Uint8Array(HV_GPA_RANGE_FOR_VISIBILITY.size);
  const dv = new DataView(block.buffer);
  dv.setBigUint64(0, HV_PARTITION_ID_SELF, true);
  dv.setUint32(8, HvMemHostVisibility.VMBUS_PAGE_VISIBLE_READ_WRITE, true);
  dv.setBigUint64(16, BigInt(pfn), true);
  const r = vm.hypervisor.toParavisor(
    0,
    encodeControl({ code: HvCallCode.HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY, repCount: 1 }),
    block,
  );
  assert.equal(resultStatus(r), HvStatus.HV_STATUS_SUCCESS, "the paravisor served the host's call");
  assert.equal(vm.paravisor!.untrusted.accepted, 1);
  assert.equal(vm.platform.memory.flags(pfn) & PageFlag.STATE_MASK, PageState.SHARED);
  // The guest's data is gone and its next access to the page it still maps private kills it.
  assert.throws(
    () => k.hw.mem.read(pfn * PAGE_SIZE, 8),
    (e: unknown) => e instanceof GuestCrash || e instanceof GuestPanic,
  );
});
