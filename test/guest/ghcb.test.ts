// Golden bytes: the GHCB page as Hyper-V's hypercall page (union hv_ghcb,
// arch/x86/hyperv/ivm.c hv_ghcb_hypercall()) when an SNP guest with a paravisor
// posts a message or signals an event directly to the hypervisor (C15).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Label } from "../../src/audit/labels.ts";
import { hvPostMessage, hvSignalEvent } from "../../src/guest/hypercall.ts";
import { HvStatus } from "../../src/hyperv/hvgdk.ts";
import { HV_GHCB_HYPERCALL } from "../../src/hyperv/hypercall-abi.ts";
import { PAGE_SIZE } from "../../src/platform/page.ts";
import { bootVm } from "../helpers.ts";

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Run `call` and return the GHCB page as the hypervisor sees it at VMGEXIT, and after. */
function capture(call: (vm: ReturnType<typeof bootVm>) => number) {
  const vm = bootVm({ isolation: "snp", mode: "paravisor" });
  const k = vm.guest;
  const ghcb = k.percpu[0]!.ghcbPage!;
  k.hw.mem.fill(ghcb, PAGE_SIZE, 0, Label.PUBLIC); // a fresh page, so every byte is golden
  const host = vm.platform.untrustedView("hypervisor");
  let atExit: Uint8Array | undefined;
  const off = vm.hooks.on("ghcb:vmgexit", () => {
    atExit = host.read(ghcb, PAGE_SIZE);
  });
  const leaked = vm.audit.secretBytesLeaked;
  const status = call(vm);
  off();
  return {
    atExit: atExit!,
    after: host.read(ghcb, PAGE_SIZE),
    status,
    leaked: vm.audit.secretBytesLeaked - leaked,
  };
}

test("HV_GHCB_HYPERCALL: hypercalldata at 0, outputgpa at 4072, hypercallinput at 4080, reserved2 at 4088 in 4096 bytes", () => {
  const o = HV_GHCB_HYPERCALL.off;
  assert.deepEqual(
    [o.hypercalldata, o.outputgpa, o.hypercallinput, o.reserved2, HV_GHCB_HYPERCALL.size],
    [0, 4072, 4080, 4088, 4096],
  );
});

test("golden: the GHCB page of an HvPostMessage (SNP with a paravisor), at VMGEXIT and after", () => {
  const payload = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  const r = capture((vm) => hvPostMessage(vm.guest, 0, 0x1234, 1, payload));
  const expect = new Uint8Array(PAGE_SIZE);
  // hv_input_post_message: connectionid, reserved, message_type, payload_size, payload.
  expect.set(
    Uint8Array.from([0x34, 0x12, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]),
    0,
  );
  // outputgpa 0; hypercallinput: callcode 0x005c, not fast, no reps.
  expect.set(Uint8Array.from([0x5c, 0, 0, 0, 0, 0, 0, 0]), 4080);
  // reserved2 overlaid by ghcb.protocol_version = 2 (0xFFA) and ghcb_usage = GHCB_USAGE_HYPERV_CALL (0xFFC).
  expect.set(Uint8Array.from([0, 0, 2, 0, 1, 0, 0, 0]), 4088);
  assert.equal(hex(r.atExit), hex(expect));
  // After the exit: the hypervisor's hypercalloutput in place of the input, usage invalidated.
  assert.equal(r.status, HvStatus.HV_STATUS_INVALID_CONNECTION_ID);
  assert.equal(hex(r.after.subarray(4080, 4096)), "1200000000000000" + "00000200ffffffff");
  assert.equal(hex(r.after.subarray(0, 24)), hex(expect.subarray(0, 24)));
  assert.equal(r.leaked, 0, "only the request went into the shared page");
});

test("golden: the GHCB page of an HvSignalEvent (SNP with a paravisor)", () => {
  const r = capture((vm) => hvSignalEvent(vm.guest, 0, 0x2345));
  const expect = new Uint8Array(PAGE_SIZE);
  // hv_input_signal_event: connectionid 0x2345, flag_number 0, rsvdz 0.
  expect.set(Uint8Array.from([0x45, 0x23, 0, 0, 0, 0, 0, 0]), 0);
  expect.set(Uint8Array.from([0x5d, 0, 0, 0, 0, 0, 0, 0]), 4080);
  expect.set(Uint8Array.from([0, 0, 2, 0, 1, 0, 0, 0]), 4088);
  assert.equal(hex(r.atExit), hex(expect));
  assert.equal(hex(r.after.subarray(4088, 4096)), "00000200ffffffff");
});

test("a GHCB whose usage is not GHCB_USAGE_HYPERV_CALL is no hypercall: the hypervisor answers INVALID_HYPERCALL_INPUT", () => {
  const vm = bootVm({ isolation: "snp", mode: "paravisor" });
  const k = vm.guest;
  const off = vm.hooks.on("ghcb:vmgexit", (_p, d) => {
    vm.platform.untrustedView("host").write(Number(d["gpa"]) + 0xffc, Uint8Array.of(0, 0, 0, 0));
  });
  const status = hvSignalEvent(k, 0, 0x2345);
  off();
  assert.equal(status, HvStatus.HV_STATUS_INVALID_HYPERCALL_INPUT);
});
