// The Confidential VMBus connection (C28, C29, C32): how the guest finds it and
// falls back, what makes a connection confidential, and what the paravisor takes
// from the guest's SynIC MSRs and hypercalls.
import assert from "node:assert/strict";
import { test } from "node:test";
import { hvGhcbHypercall } from "../../../src/guest/hypercall.ts";
import { CpuidBit, HvCallCode, HvCpuidLeaf, HvMsr, HvStatus } from "../../../src/hyperv/hvgdk.ts";
import { SintBit } from "../../../src/hyperv/synic-abi.ts";
import { encodePostMessageInput } from "../../../src/hypervisor/direct.ts";
import { PageState } from "../../../src/platform/page.ts";
import { exerciseUtilities } from "../../../src/vm/utilities.ts";
import { VmbusConnection as Conn, FeatureFlag } from "../../../src/vmbus/constants.ts";
import { encodeChannelMessage } from "../../../src/vmbus/messages.ts";
import { bootCvm, bootRecording, channelOf, isPrivate, pageOf, tally } from "./helpers.ts";

const ISOS = ["snp", "tdx"] as const;

test("C28: the paravisor sets CPUID 0x40000082 EAX bit 3 only with Confidential VMBus, and the guest then connects to it", () => {
  for (const isolation of ISOS) {
    const vm = bootCvm({ isolation });
    const leaf = vm.guest.hw.cpus[0]!.cpuid(HvCpuidLeaf.HYPERV_CPUID_VIRT_STACK_PROPERTIES);
    assert.ok(leaf.eax & CpuidBit.HYPERV_VS_PROPERTIES_EAX_CONFIDENTIAL_VMBUS_AVAILABLE, isolation);
    assert.equal(vm.guest.info?.confidentialVmbusAvailable, true);
    assert.ok(vm.guest.dmesg.includes("Establishing connection to the confidential VMBus"));
    assert.equal(vm.guest.confidentialVmbus, true);
    assert.equal(vm.guest.vmbus?.fallbacks, 0);
    assert.equal(vm.paravisor!.vmbus!.confidential, true);

    const plain = bootCvm({ isolation, vmbus: "host" });
    const none = plain.guest.hw.cpus[0]!.cpuid(HvCpuidLeaf.HYPERV_CPUID_VIRT_STACK_PROPERTIES);
    assert.equal(none.eax & CpuidBit.HYPERV_VS_PROPERTIES_EAX_CONFIDENTIAL_VMBUS_AVAILABLE, 0);
    assert.equal(plain.guest.confidentialVmbus, false);
    assert.equal(plain.guest.vmbus?.state, "connected");
  }
});

test("C28: a guest that probes without the bit tries the paravisor first and falls back to the host's VMBus", () => {
  for (const isolation of ISOS) {
    const vm = bootCvm({ isolation, vmbus: "host", vmbusProbe: true });
    const k = vm.guest;
    const conn = k.vmbus!;
    assert.equal(conn.fallbacks, 1, isolation);
    assert.ok(k.dmesg.some((l) => l.includes("falling back to the host")));
    assert.equal(k.confidentialVmbus, false);
    assert.equal(conn.state, "connected");
    // The first INITIATE_CONTACT went to the paravisor, which has no server: the host saw only the second.
    assert.equal(vm.host.vmbus.contacts.length, 1);
    assert.equal(vm.host.vmbus.contacts[0]!.featureFlags, 0);
    // The paravisor SynIC is off again and the SINT copy proxied: the host's interrupts reach the guest.
    assert.equal(vm.paravisor!.synic.enabled(0), false);
    assert.ok(vm.paravisor!.sint(0, 2) & BigInt(SintBit.PROXY));
    assert.equal(k.paraSynic.length, 0);
    assert.deepEqual(exerciseUtilities(vm), ["hb", "ts", "sd"]);
  }
});

test("C28: a paravisor that advertises Confidential VMBus but refuses the connection makes the guest fall back", () => {
  const vm = bootCvm({}, { paravisorVmbus: { refuse: true } });
  const conn = vm.guest.vmbus!;
  assert.equal(vm.guest.info?.confidentialVmbusAvailable, true);
  assert.equal(conn.fallbacks, 1);
  assert.ok(conn.versionsTried.length > 2, "every version was refused before falling back");
  assert.equal(conn.state, "connected");
  assert.equal(vm.guest.confidentialVmbus, false);
  assert.deepEqual(exerciseUtilities(vm), ["hb", "ts", "sd"]);
});

test("C28 negative control: without the fallback the refused guest is left without VMBus", () => {
  const vm = bootCvm({}, { paravisorVmbus: { refuse: true }, guestVmbus: { fallback: false } });
  assert.equal(vm.guest.vmbus?.state, "failed");
  assert.equal(vm.guest.vmbus?.devices.length, 0);
  assert.deepEqual(exerciseUtilities(vm), []);
});

test("C29: confidentiality is a property of the connection: a 6.19 guest's trusted connection gets confidential channels, an older guest's on the same paravisor does not", () => {
  for (const isolation of ISOS) {
    const vm = bootCvm({ isolation });
    const pv = vm.paravisor!.vmbus!;
    assert.equal(pv.trusted, true);
    assert.equal(pv.confidential, true);
    const scsi = channelOf(vm, "scsi");
    assert.equal(scsi.coRingBuffer, true);
    assert.ok(isPrivate(vm, scsi.ring!.gpa));

    // A guest before 6.19 posts through the GHCB / TDVMCALL: the untrusted path.
    const old = bootCvm({ isolation }, { guestVmbus: { preConfidential: true } });
    const opv = old.paravisor!.vmbus!;
    assert.equal(opv.trusted, false, isolation);
    assert.equal(opv.confidential, false);
    assert.ok(opv.received.untrusted > 0);
    assert.equal(opv.received.trusted, 0);
    const oscsi = channelOf(old, "scsi");
    assert.equal(oscsi.coRingBuffer, false, "no confidential flags on an untrusted connection");
    assert.equal(pageOf(old, oscsi.ring!.gpa).state, PageState.SHARED);
    // The paravisor answers it through the hypervisor's SynIC (HvCallPostMessageDirect).
    assert.ok((old.hypervisor.byCode.get(HvCallCode.HVCALL_POST_MESSAGE_DIRECT) ?? 0) > 0);
    assert.equal(vm.hypervisor.byCode.get(HvCallCode.HVCALL_POST_MESSAGE_DIRECT) ?? 0, 0);
    assert.deepEqual(exerciseUtilities(old), ["hb", "ts", "sd"]);
  }
});

test("C29: the paravisor is the message path for channel creation and deletion, through a per-CPU SynIC of its own", () => {
  const { vm, crossings } = bootRecording({ vcpus: 2 });
  const k = vm.guest;
  // Every control message reached the guest through the paravisor's SynIC, none through the hypervisor's.
  const msgs = tally(crossings, "synic-message");
  assert.ok((msgs["paravisor>guest"] ?? 0) > 10);
  assert.equal(msgs["hypervisor>guest"] ?? 0, 0);
  assert.equal(k.paraSynic.length, 2, "one paravisor SynIC per CPU");
  for (const p of k.paraSynic) {
    assert.ok(isPrivate(vm, p.message) && isPrivate(vm, p.event), "never decrypted");
    assert.equal(pageOf(vm, p.message).hostVisible, false);
  }
  // The host rescinds a relayed channel: the rescind and the release both travel through the paravisor.
  const hb = channelOf(vm, "heartbeat");
  const before = vm.paravisor!.synic.messagesPosted;
  assert.ok(vm.host.vmbus.rescind(hb.relid));
  vm.scheduler.runUntilIdle();
  assert.ok(vm.paravisor!.synic.messagesPosted > before);
  assert.ok(!k.vmbus!.devices.some((d) => d.name === "heartbeat"));
  assert.deepEqual(vm.host.vmbus.released, [hb.relid]);
});

test("C32: the paravisor keeps the guest's SynIC MSRs: SIMP and SIEFP name the private paravisor pages there, the hypervisor's still the pages it supplies", () => {
  const vm = bootCvm();
  const pv = vm.paravisor!;
  const k = vm.guest;
  for (let vp = 0; vp < vm.config.vcpus; vp++) {
    assert.equal(pv.synic.rdmsr(vp, HvMsr.HV_X64_MSR_SIMP), BigInt(k.paraSynic[vp]!.message) | 1n);
    assert.equal(pv.synic.rdmsr(vp, HvMsr.HV_X64_MSR_SIEFP), BigInt(k.paraSynic[vp]!.event) | 1n);
    assert.equal(pv.synic.enabled(vp), true);
    const hyp = vm.hypervisor.vps[vp]!;
    assert.equal(Number(hyp.simp >> 12n) * 4096, k.synic[vp]!.message);
    assert.equal(pageOf(vm, k.synic[vp]!.message).state, PageState.SHARED);
    // 6.19: no proxy bit on the paravisor's SINT2 copy with Confidential VMBus.
    assert.equal(pv.sint(vp, 2) & BigInt(SintBit.PROXY), 0n);
  }
});

test("C32: HvPostMessage goes to the paravisor through the hypercall page; to reach the hypervisor the guest takes the GHCB path, which the paravisor intercepts", () => {
  const { vm, crossings } = bootRecording();
  const posts = crossings.filter(
    (x) =>
      x.kind === "hypercall" &&
      x.from === "guest" &&
      x.to === "hypervisor" &&
      x.what === "HVCALL_POST_MESSAGE",
  );
  assert.equal(posts.length, 0, "no guest HvPostMessage reached the hypervisor");
  const pv = vm.paravisor!.vmbus!;
  assert.ok(pv.received.trusted > 5);
  assert.equal(pv.received.untrusted, 0);
  // The special path: a GHCB HvPostMessage to the VMBus connection id reaches the paravisor's untrusted dispatcher.
  const k = vm.guest;
  const msg = encodeChannelMessage({ kind: "request-offers" });
  const input = encodePostMessageInput(Conn.VMBUS_MESSAGE_CONNECTION_ID_4, 1, msg);
  const r = hvGhcbHypercall(k, 0, HvCallCode.HVCALL_POST_MESSAGE, input);
  assert.equal(Number(r & 0xffffn), HvStatus.HV_STATUS_SUCCESS);
  vm.scheduler.runUntilIdle();
  assert.equal(pv.received.untrusted, 1);
  assert.equal(
    vm.host.vmbus.contacts.length,
    1,
    "only the relay's contact: the guest's message never reached the host",
  );
  assert.equal(vm.host.vmbus.contacts[0]!.msgVtl, 2);
  assert.equal(
    vm.host.vmbus.contacts[0]!.featureFlags & FeatureFlag.VMBUS_FEATURE_FLAG_CONFIDENTIAL_CHANNELS,
    0,
  );
});
