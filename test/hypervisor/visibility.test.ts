import assert from "node:assert/strict";
import { test } from "node:test";
import { Label } from "../../src/audit/labels.ts";
import { hostScan } from "../../src/host/scan.ts";
import { HV_PARTITION_ID_SELF, HvCallCode, HvStatus } from "../../src/hyperv/hvgdk.ts";
import {
  decodeControl,
  doRepHypercall,
  encodeControl,
  encodeResult,
  HV_GPA_RANGE_FOR_VISIBILITY,
  resultRepsCompleted,
  resultStatus,
} from "../../src/hyperv/hypercall-abi.ts";
import { PAGE_SIZE, PageFlag, PageState } from "../../src/platform/page.ts";
import type { Vm } from "../../src/vm/vm.ts";
import { bootVm } from "../helpers.ts";

test("hypercall control word: fields round-trip at their bit positions", () => {
  const v = encodeControl({ code: 0xdb, fast: true, varHeadSize: 3, repCount: 510, repStart: 17 });
  assert.equal(v, 0xdbn | (1n << 16n) | (3n << 17n) | (510n << 32n) | (17n << 48n));
  const d = decodeControl(v);
  assert.deepEqual(d, {
    code: 0xdb,
    fast: true,
    varHeadSize: 3,
    nested: false,
    repCount: 510,
    repStart: 17,
    reservedSet: false,
  });
  assert.equal(decodeControl(v | (1n << 27n)).reservedSet, true);
  assert.equal(decodeControl(v | (1n << 63n)).reservedSet, true);
  const r = encodeResult(HvStatus.HV_STATUS_INVALID_PARAMETER, 9);
  assert.equal(resultStatus(r), 5);
  assert.equal(resultRepsCompleted(r), 9);
});

test("rep hypercall loop: reps completed carry into rep start until all are done", () => {
  const starts: number[] = [];
  const r = doRepHypercall(0xdb, 10, 0, (control) => {
    const c = decodeControl(control);
    starts.push(c.repStart);
    return encodeResult(0, Math.min(c.repStart + 4, c.repCount));
  });
  assert.deepEqual(starts, [0, 4, 8]);
  assert.equal(resultRepsCompleted(r), 10);
  const stop = doRepHypercall(0xdb, 10, 0, (control) =>
    encodeResult(decodeControl(control).repStart === 0 ? 0 : 5, 3),
  );
  assert.equal(resultStatus(stop), 5);
});

/** A (possibly malicious) paravisor's own 0x00DB request, through its forwarding page. */
function paravisorAsks(vm: Vm, fill: (dv: DataView) => void, repCount: number, repStart = 0): bigint {
  const pv = vm.paravisor!;
  const block = new Uint8Array(PAGE_SIZE);
  const dv = new DataView(block.buffer);
  dv.setBigUint64(HV_GPA_RANGE_FOR_VISIBILITY.off.partition_id, HV_PARTITION_ID_SELF, true);
  dv.setUint32(HV_GPA_RANGE_FOR_VISIBILITY.off.host_visibility, 3, true);
  fill(dv);
  pv.mem.write(pv.forwardingPage, block, Label.PUBLIC);
  const control = encodeControl({
    code: HvCallCode.HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY,
    repCount,
    repStart,
  });
  return vm.hypervisor.hypercall(0, control, pv.forwardingPage, 0, "paravisor", "ghcb");
}

const page = (dv: DataView, i: number, pfn: number) =>
  dv.setBigUint64(HV_GPA_RANGE_FOR_VISIBILITY.off.gpa_page_list + 8 * i, BigInt(pfn), true);

test("C4: the hypervisor validates what a malicious paravisor asks of it", () => {
  const vm = bootVm({ isolation: "snp", mode: "paravisor" });
  const pages = vm.platform.memory.pages;
  const cases: [string, (dv: DataView) => void, number, number, number][] = [
    ["rep count over 510", (dv) => page(dv, 0, 100), 511, 0, HvStatus.HV_STATUS_INVALID_HYPERCALL_INPUT],
    ["rep start past count", (dv) => page(dv, 0, 100), 1, 1, HvStatus.HV_STATUS_INVALID_HYPERCALL_INPUT],
    [
      "foreign partition",
      (dv) => {
        dv.setBigUint64(0, 7n, true);
        page(dv, 0, 100);
      },
      1,
      0,
      HvStatus.HV_STATUS_INVALID_PARTITION_ID,
    ],
    [
      "visibility 2",
      (dv) => {
        dv.setUint32(8, 2, true);
        page(dv, 0, 100);
      },
      1,
      0,
      HvStatus.HV_STATUS_INVALID_PARAMETER,
    ],
    [
      "reserved bits",
      (dv) => {
        dv.setUint32(8, 3 | (1 << 9), true);
        page(dv, 0, 100);
      },
      1,
      0,
      HvStatus.HV_STATUS_INVALID_PARAMETER,
    ],
    ["GPA outside the partition", (dv) => page(dv, 0, pages + 5), 1, 0, HvStatus.HV_STATUS_INVALID_PARAMETER],
  ];
  for (const [name, fill, count, start, status] of cases) {
    const r = paravisorAsks(vm, fill, count, start);
    assert.equal(resultStatus(r), status, name);
  }
  assert.equal(vm.audit.violations.length, 0);
  // A partial failure reports how many reps were done.
  const r = paravisorAsks(
    vm,
    (dv) => {
      page(dv, 0, 3000);
      page(dv, 1, pages + 1);
    },
    2,
  );
  assert.equal(resultStatus(r), HvStatus.HV_STATUS_INVALID_PARAMETER);
  assert.equal(resultRepsCompleted(r), 1);
  // A well-formed request from the paravisor succeeds.
  assert.equal(resultStatus(paravisorAsks(vm, (dv) => page(dv, 0, 3001), 1)), 0);
});

test("C4: the guest cannot have the hypervisor expose the paravisor's memory, or take input from a private page", () => {
  const vm = bootVm({ isolation: "snp", mode: "enlightened" });
  // An enlightened guest's input page is shared; point it at a private page instead: the hypervisor reads ciphertext.
  const priv = vm.guest.alloc.alloc(1)! * PAGE_SIZE;
  const control = encodeControl({
    code: HvCallCode.HVCALL_MODIFY_SPARSE_GPA_PAGE_HOST_VISIBILITY,
    repCount: 1,
  });
  const r = vm.hypervisor.hypercall(0, control, priv, 0, "guest", "ghcb");
  assert.equal(resultStatus(r), HvStatus.HV_STATUS_INVALID_PARTITION_ID);
  const pvm = bootVm({ isolation: "tdx", mode: "paravisor" });
  assert.equal(
    pvm.hypervisor.pageStateChange(0, pvm.platform.paravisorPfn, 1, "shared", "guest", "tdvmcall"),
    false,
  );
  assert.match(pvm.hypervisor.refusals.at(-1) ?? "", /paravisor's memory/);
});

test("C4 negative control: a hypervisor that does not validate acts on what a malicious paravisor asks", () => {
  const vm = bootVm({ isolation: "snp", mode: "paravisor", unharden: ["hypervisor-validation"] });
  const pages = vm.platform.memory.pages;
  const r = paravisorAsks(
    vm,
    (dv) => {
      dv.setBigUint64(0, 7n, true); // a foreign partition id, not checked
      page(dv, 0, pages + 5); // outside the partition, not checked
    },
    1,
  );
  assert.equal(resultStatus(r), HvStatus.HV_STATUS_SUCCESS);
  assert.equal(vm.audit.violations[0]?.code, "HVCOCO_VIOLATION_HYPERVISOR_INPUT");
  // And a guest can get the paravisor's memory exposed to the host.
  const pvPfn = vm.platform.paravisorPfn;
  vm.paravisor!.mem.write(pvPfn * PAGE_SIZE, new Uint8Array(64).fill(7), Label.SECRET);
  assert.equal(vm.hypervisor.pageStateChange(0, pvPfn, 1, "shared", "guest", "ghcb"), true);
  assert.equal(vm.platform.memory.flags(pvPfn) & PageFlag.STATE_MASK, PageState.SHARED);
});

test("host view: a host reading every page of a booted CoCo VM gets no plaintext of a private page; its writes there are refused and recorded", () => {
  for (const c of [
    { isolation: "snp", mode: "enlightened" },
    { isolation: "snp", mode: "paravisor" },
    { isolation: "tdx", mode: "enlightened" },
    { isolation: "tdx", mode: "paravisor" },
  ]) {
    const vm = bootVm({ ...c, memory: "64M" });
    const secretPfn = vm.guest.alloc.alloc(1)!;
    const secret = new Uint8Array(PAGE_SIZE);
    for (let i = 0; i < PAGE_SIZE; i++) secret[i] = (i * 131 + 7) & 0xff;
    vm.guest.hw.mem.write(secretPfn * PAGE_SIZE, secret, Label.SECRET);
    const host = vm.platform.untrustedView("host");
    const buf = new Uint8Array(PAGE_SIZE);
    let plainPrivateBytes = 0;
    for (let pfn = 0; pfn < host.pages; pfn++) {
      host.read(pfn * PAGE_SIZE, PAGE_SIZE, buf);
      const mine = vm.platform.memory.peek(pfn);
      const isPrivate = (vm.platform.memory.flags(pfn) & PageFlag.STATE_MASK) !== PageState.SHARED;
      if (isPrivate && mine)
        for (let i = 0; i < PAGE_SIZE; i++) if (buf[i] === mine[i] && mine[i] !== 0) plainPrivateBytes++;
    }
    // A keyed stream cipher matches a few bytes by chance (1 in 256); plaintext would match all 4096.
    assert.ok(plainPrivateBytes < 64, `${c.isolation}/${c.mode}: ${plainPrivateBytes} bytes equal`);
    assert.equal(vm.audit.secretBytesLeaked, 0);
    assert.ok(vm.audit.ciphertextBytesRead > 0);
    const refusedBefore = vm.audit.refusedWrites;
    assert.equal(host.write(secretPfn * PAGE_SIZE, new Uint8Array(8).fill(0x41)), false);
    assert.equal(vm.audit.refusedWrites, refusedBefore + 1);
    assert.deepEqual(vm.guest.hw.mem.read(secretPfn * PAGE_SIZE, 8), secret.subarray(0, 8));
  }
});

test("host view negative control: in a normal VM the same host scan reads the secret in plaintext", () => {
  const vm = bootVm({ isolation: "none", memory: "64M" });
  const secretPfn = vm.guest.alloc.alloc(1)!;
  vm.guest.hw.mem.write(secretPfn * PAGE_SIZE, new Uint8Array(PAGE_SIZE).fill(0x5c), Label.SECRET);
  hostScan(vm.platform.untrustedView("host"));
  assert.equal(vm.audit.secretBytesLeaked, PAGE_SIZE);
});
