// A fuzz case: a sequence of host actions, each through something a real untrusted
// host or hypervisor controls. Cases are plain data: they serialize to JSON (bytes
// as hex), so a finding can be saved, shared and replayed exactly.
import { CpuidBit, HvCpuidLeaf } from "../../hyperv/hvgdk.ts";

/** What the host does. Boot-time actions shape the hypervisor's answers; the rest act after boot. */
export type Action =
  /** Post a SynIC message (a VMBus channel message) into a VP's SINT2 slot. */
  | { kind: "message"; vp: number; payload: Uint8Array }
  /** Inject an interrupt vector, ignoring the x86 rules. */
  | { kind: "interrupt"; vp: number; vector: number }
  /** Set an event flag on the SINT2 event page (a channel signal for relid `flag`). */
  | { kind: "event"; vp: number; flag: number }
  /** XOR a register of a CPUID leaf the hypervisor supplies (boot time). */
  | { kind: "cpuid"; leaf: number; reg: "eax" | "ebx" | "ecx" | "edx"; xor: number }
  /** Answer hypercall `code` with `status` instead of serving it, from its `nth` call on (boot time). */
  | { kind: "hypercall"; code: number; status: number; nth: number }
  /** Write bytes into a shared, host-visible guest page the host can see (its SLAT). */
  | { kind: "poke"; page: number; offset: number; bytes: Uint8Array };

export const BOOT_ACTIONS: ReadonlySet<Action["kind"]> = new Set(["cpuid", "hypercall"]);

export interface FuzzCase {
  /** The configuration the case runs on (as parseConfig accepts it). */
  config: Record<string, unknown>;
  actions: Action[];
}

/** The CPUID leaves worth lying about. */
export const CPUID_TARGETS: readonly number[] = [
  HvCpuidLeaf.HYPERV_CPUID_VENDOR_AND_MAX_FUNCTIONS,
  HvCpuidLeaf.HYPERV_CPUID_FEATURES,
  HvCpuidLeaf.HYPERV_CPUID_ENLIGHTMENT_INFO,
  HvCpuidLeaf.HYPERV_CPUID_ISOLATION_CONFIG,
  HvCpuidLeaf.HYPERV_CPUID_VIRT_STACK_PROPERTIES,
];
export const INTERESTING_XOR: readonly number[] = [
  CpuidBit.HV_ISOLATION,
  CpuidBit.HV_PARAVISOR_PRESENT,
  CpuidBit.HV_SHARED_GPA_BOUNDARY_ACTIVE,
  0xf,
  1,
  0x80000000,
];

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: unknown): Uint8Array => {
  if (typeof s !== "string" || !/^([0-9a-f]{2})*$/.test(s)) throw new Error("bytes must be lowercase hex");
  return new Uint8Array(Buffer.from(s, "hex"));
};

export function caseToJson(c: FuzzCase): unknown {
  return {
    config: c.config,
    actions: c.actions.map((a) =>
      a.kind === "message" || a.kind === "poke"
        ? { ...a, ...("payload" in a ? { payload: hex(a.payload) } : { bytes: hex(a.bytes) }) }
        : a,
    ),
  };
}

const int = (v: unknown, what: string, min: number, max: number): number => {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
    throw new Error(`${what} must be an integer ${min}..${max}`);
  return v;
};

/** Parse a case back; throws an Error with a one-line reason on bad input. */
export function caseFromJson(j: unknown): FuzzCase {
  if (typeof j !== "object" || j === null) throw new Error("a fuzz case must be an object");
  const o = j as Record<string, unknown>;
  if (typeof o["config"] !== "object" || o["config"] === null) throw new Error("a fuzz case needs a config");
  if (!Array.isArray(o["actions"])) throw new Error("a fuzz case needs a list of actions");
  const actions = (o["actions"] as unknown[]).map((x, i): Action => {
    if (typeof x !== "object" || x === null) throw new Error(`action ${i} is not an object`);
    const a = x as Record<string, unknown>;
    switch (a["kind"]) {
      case "message":
        return { kind: "message", vp: int(a["vp"], "vp", 0, 255), payload: unhex(a["payload"]) };
      case "interrupt":
        return {
          kind: "interrupt",
          vp: int(a["vp"], "vp", 0, 255),
          vector: int(a["vector"], "vector", 0, 255),
        };
      case "event":
        return { kind: "event", vp: int(a["vp"], "vp", 0, 255), flag: int(a["flag"], "flag", 0, 2047) };
      case "cpuid": {
        const reg = a["reg"];
        if (reg !== "eax" && reg !== "ebx" && reg !== "ecx" && reg !== "edx")
          throw new Error(`action ${i}: bad register`);
        return {
          kind: "cpuid",
          leaf: int(a["leaf"], "leaf", 0, 0xffffffff),
          reg,
          xor: int(a["xor"], "xor", 0, 0xffffffff),
        };
      }
      case "hypercall":
        return {
          kind: "hypercall",
          code: int(a["code"], "code", 0, 0xffff),
          status: int(a["status"], "status", 0, 0xffff),
          nth: int(a["nth"], "nth", 0, 1 << 20),
        };
      case "poke":
        return {
          kind: "poke",
          page: int(a["page"], "page", 0, 2 ** 40),
          offset: int(a["offset"], "offset", 0, 4095),
          bytes: unhex(a["bytes"]),
        };
      default:
        throw new Error(`action ${i}: unknown kind ${JSON.stringify(a["kind"])}`);
    }
  });
  return { config: o["config"] as Record<string, unknown>, actions };
}
