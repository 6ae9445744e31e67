// A VM's configuration: given at creation, validated once, frozen for the VM's
// life (C1, C3). Bad input is a typed ConfigError (the CLI prints its one line and
// exits 2); nothing here throws for a user's mistake.

export const ISOLATIONS = ["none", "snp", "tdx"] as const;
export type Isolation = (typeof ISOLATIONS)[number];
export const MODES = ["enlightened", "paravisor"] as const;
export type Mode = (typeof MODES)[number];
export const VMBUS_MODES = ["host", "confidential"] as const;
export type VmbusMode = (typeof VMBUS_MODES)[number];

/** Hardenings a negative control can switch off (SPEC: "the auditor has to be able to fail"). */
export const HARDENINGS = [
  "not-present",
  // Pages whose encryption/decryption failed part-way are never freed (found by the fuzzer).
  "leak-failed-conversions",
  "cpuid-filter",
  "hypervisor-validation",
  "copy-before-validate",
  "zero-padding",
  "isolation-filter",
  // Paravisor services (issue 3): SNP ReflectVC (#VC to the paravisor, C10), the
  // private-MMIO callback (C12), interrupt mediation (C14), the untrusted hypercall
  // dispatcher's filter (C15).
  "reflect-vc",
  "private-mmio",
  "interrupt-mediation",
  "untrusted-hypercall-filter",
  // Storage and network I/O (issue 5): the DMA API bounces through decrypted swiotlb
  // memory in a CoCo VM (C21); off = swiotlb=noforce, the host gets private GPAs.
  "swiotlb-bounce",
  // netvsc copies a received message out of the shared receive buffer before it
  // parses it (C22, C19); off = it parses in place and re-reads what it checked.
  "netvsc-copy",
  // Confidential VMBus (issue 6): bounce pages outside the host's SLAT (C27), refusing
  // untrusted messages on a trusted connection (C29, C32), stripping a host's
  // confidential flags from relayed offers (C30), relids unique across host and
  // paravisor channels (C33).
  "slat-exclusion",
  "trusted-connection",
  "relay-flag-strip",
  "relid-coordination",
] as const;
export type Hardening = (typeof HARDENINGS)[number];

export interface VmConfig {
  readonly name: string;
  readonly isolation: Isolation;
  readonly mode: Mode;
  readonly vmbus: VmbusMode;
  readonly vcpus: number;
  readonly memoryBytes: number;
  readonly seed: number;
  /** Hardenings switched off for a negative control. */
  readonly unharden: readonly Hardening[];
  /** SNP enlightened only: the VMSA's Restricted Injection feature (only #HV may be injected, C14). */
  readonly restrictedInjection?: boolean;
  /** The paravisor image the host loads: the reference image, or one with a byte changed (C25). */
  readonly paravisorImage?: ParavisorImageChoice;
  /** A raw disk image behind the synthetic SCSI disk (the host's device); in memory when absent. */
  readonly disk?: string;
  /**
   * Confidential VMBus: how the paravisor's disk is backed and what its offer says —
   * "tdisp" (an assigned device with encrypted-memory support; ring and external
   * memory encrypted, C26), "bounce" (a device without it, bounced through pages
   * outside the host's SLAT; ring and external memory, C27), "ring-only" (the ring
   * encrypted, the data through the guest's swiotlb). "tdisp" when absent.
   */
  readonly paravisorStorage?: ParavisorStorageChoice;
  /**
   * The guest tries a Confidential VMBus connection even without the CPUID bit and
   * falls back to the host (coco.rst's "try first, fall back", C28).
   */
  readonly vmbusProbe?: boolean;
}

export const PARAVISOR_STORAGE = ["tdisp", "bounce", "ring-only"] as const;
export type ParavisorStorageChoice = (typeof PARAVISOR_STORAGE)[number];

export const PARAVISOR_IMAGES = ["reference", "tampered"] as const;
export type ParavisorImageChoice = (typeof PARAVISOR_IMAGES)[number];

export interface ConfigError {
  code: "HVCOCO_ERR_CONFIG";
  message: string;
}

const REFUSED_ISOLATION: Record<string, string> = {
  sev: "SEV encrypts memory but leaves register state and page mappings to the hypervisor",
  "sev-es": "SEV-ES protects register state but not the guest's page mappings (no RMP)",
  sme: "SME encrypts host memory, not a guest's",
};

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;
export const MAX_MEMORY_BYTES = 1024 * GiB;
export const MAX_VCPUS = 240;

/** Parse sizes like 64G, 512M, 4096 (bytes). */
export function parseSize(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v !== "string") return undefined;
  const m = /^(\d+)\s*([KMGT]i?B?)?$/i.exec(v.trim());
  if (!m) return undefined;
  const unit = (m[2] ?? "").toUpperCase()[0];
  const mult = unit === "K" ? 1024 : unit === "M" ? MiB : unit === "G" ? GiB : unit === "T" ? 1024 * GiB : 1;
  return Number(m[1]) * mult;
}

function fail(message: string): { ok: false; error: ConfigError } {
  return { ok: false, error: { code: "HVCOCO_ERR_CONFIG", message } };
}

/** Validate a user's configuration (from flags or a JSON file). */
export function parseConfig(
  input: unknown,
): { ok: true; config: VmConfig } | { ok: false; error: ConfigError } {
  if (typeof input !== "object" || input === null || Array.isArray(input))
    return fail("configuration must be an object");
  const o = input as Record<string, unknown>;
  const known = new Set([
    "name",
    "isolation",
    "mode",
    "vmbus",
    "vcpus",
    "memory",
    "seed",
    "unharden",
    "restrictedInjection",
    "paravisorImage",
    "disk",
    "paravisorStorage",
    "vmbusProbe",
  ]);
  for (const k of Object.keys(o)) if (!known.has(k)) return fail(`unknown configuration key "${k}"`);

  const iso = String(o["isolation"] ?? "none").toLowerCase();
  const refused = REFUSED_ISOLATION[iso];
  // coco.rst: SEV and SEV-ES "encryption is not sufficient for a CoCo VM on Hyper-V" (C2).
  if (refused !== undefined)
    return fail(`isolation "${iso}" is refused: ${refused}; a CoCo VM on Hyper-V needs snp or tdx`);
  if (!(ISOLATIONS as readonly string[]).includes(iso))
    return fail(`isolation must be one of ${ISOLATIONS.join(", ")} (got "${iso}")`);
  const isolation = iso as Isolation;

  const mode = String(o["mode"] ?? "enlightened");
  if (!(MODES as readonly string[]).includes(mode))
    return fail(`mode must be one of ${MODES.join(", ")} (got "${mode}")`);
  if (isolation === "none" && mode === "paravisor")
    return fail(`mode "paravisor" needs isolation snp or tdx`);

  const vmbus = String(o["vmbus"] ?? "host");
  if (!(VMBUS_MODES as readonly string[]).includes(vmbus))
    return fail(`vmbus must be one of ${VMBUS_MODES.join(", ")} (got "${vmbus}")`);
  if (vmbus === "confidential" && mode !== "paravisor")
    return fail(`vmbus "confidential" needs mode paravisor`);

  const vcpus = o["vcpus"] ?? 2;
  if (typeof vcpus !== "number" || !Number.isInteger(vcpus) || vcpus < 1 || vcpus > MAX_VCPUS)
    return fail(`vcpus must be an integer from 1 to ${MAX_VCPUS}`);

  const memoryBytes = parseSize(o["memory"] ?? "1G");
  if (memoryBytes === undefined || !Number.isInteger(memoryBytes))
    return fail(`memory must be a size such as 512M or 64G`);
  if (memoryBytes < 64 * MiB || memoryBytes > MAX_MEMORY_BYTES || memoryBytes % (2 * MiB) !== 0)
    return fail(`memory must be a multiple of 2M from 64M to 1T`);

  const seed = o["seed"] ?? 1;
  if (typeof seed !== "number" || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    return fail(`seed must be an integer from 0 to 4294967295`);

  const un = o["unharden"] ?? [];
  if (!Array.isArray(un)) return fail(`unharden must be a list`);
  for (const h of un)
    if (!(HARDENINGS as readonly string[]).includes(String(h)))
      return fail(`unknown hardening "${String(h)}" (known: ${HARDENINGS.join(", ")})`);

  const ri = o["restrictedInjection"] ?? false;
  if (typeof ri !== "boolean") return fail(`restrictedInjection must be true or false`);
  if (ri && !(isolation === "snp" && mode === "enlightened"))
    return fail(
      `restrictedInjection needs isolation snp and mode enlightened (a paravisor injects for its guest)`,
    );
  const image = String(o["paravisorImage"] ?? "reference");
  if (!(PARAVISOR_IMAGES as readonly string[]).includes(image))
    return fail(`paravisorImage must be one of ${PARAVISOR_IMAGES.join(", ")} (got "${image}")`);
  if (image !== "reference" && mode !== "paravisor") return fail(`paravisorImage needs mode paravisor`);

  const disk = o["disk"];
  if (disk !== undefined && (typeof disk !== "string" || disk.length === 0))
    return fail(`disk must be the path of a raw disk image`);

  const storage = o["paravisorStorage"];
  if (storage !== undefined && !(PARAVISOR_STORAGE as readonly unknown[]).includes(storage))
    return fail(`paravisorStorage must be one of ${PARAVISOR_STORAGE.join(", ")} (got "${String(storage)}")`);
  if (storage !== undefined && vmbus !== "confidential")
    return fail(`paravisorStorage needs vmbus confidential`);
  const probe = o["vmbusProbe"] ?? false;
  if (typeof probe !== "boolean") return fail(`vmbusProbe must be true or false`);
  if (probe && mode !== "paravisor") return fail(`vmbusProbe needs mode paravisor`);

  const name = String(
    o["name"] ??
      `${defaultName(isolation, mode as Mode, vmbus as VmbusMode)}${storage !== undefined && storage !== "tdisp" ? `-${storage}` : ""}${probe ? "-probe" : ""}${ri ? "-ri" : ""}${image === "tampered" ? "-tampered" : ""}`,
  );
  const config: VmConfig = Object.freeze({
    name,
    isolation,
    mode: mode as Mode,
    vmbus: vmbus as VmbusMode,
    vcpus,
    memoryBytes,
    seed,
    unharden: Object.freeze([...(un as Hardening[])]),
    ...(ri ? { restrictedInjection: true } : {}),
    ...(image !== "reference" ? { paravisorImage: image as ParavisorImageChoice } : {}),
    ...(disk !== undefined ? { disk } : {}),
    ...(storage !== undefined ? { paravisorStorage: storage as ParavisorStorageChoice } : {}),
    ...(probe ? { vmbusProbe: true } : {}),
  });
  return { ok: true, config };
}

/** The input parseConfig would turn into `c` (for replay lines and saved cases): parseConfig(configInput(c)) equals c. */
export function configInput(c: VmConfig): Record<string, unknown> {
  return {
    name: c.name,
    isolation: c.isolation,
    mode: c.mode,
    vmbus: c.vmbus,
    vcpus: c.vcpus,
    memory: c.memoryBytes,
    seed: c.seed,
    unharden: [...c.unharden],
    ...(c.restrictedInjection !== undefined ? { restrictedInjection: c.restrictedInjection } : {}),
    ...(c.paravisorImage !== undefined ? { paravisorImage: c.paravisorImage } : {}),
    ...(c.disk !== undefined ? { disk: c.disk } : {}),
    ...(c.paravisorStorage !== undefined ? { paravisorStorage: c.paravisorStorage } : {}),
    ...(c.vmbusProbe !== undefined ? { vmbusProbe: c.vmbusProbe } : {}),
  };
}

export function defaultName(isolation: Isolation, mode: Mode, vmbus: VmbusMode): string {
  if (isolation === "none") return "normal";
  return `${isolation}-${mode}${vmbus === "confidential" ? "-cvmbus" : ""}`;
}

/**
 * The five isolation/mode combinations `hvcoco run` covers, plus Confidential VMBus
 * (C24-C33): ring and external memory encrypted (SNP, TDX), the ring only, and a
 * paravisor without it that the probing guest falls back from.
 */
export const STANDARD_CONFIGS: readonly Record<string, unknown>[] = [
  { isolation: "none" },
  { isolation: "snp", mode: "enlightened" },
  { isolation: "snp", mode: "paravisor" },
  { isolation: "tdx", mode: "enlightened" },
  { isolation: "tdx", mode: "paravisor" },
  { isolation: "snp", mode: "paravisor", vmbus: "confidential" },
  { isolation: "snp", mode: "paravisor", vmbus: "confidential", paravisorStorage: "ring-only" },
  { isolation: "snp", mode: "paravisor", vmbusProbe: true },
  { isolation: "tdx", mode: "paravisor", vmbus: "confidential" },
];

export function isCoco(c: VmConfig): boolean {
  return c.isolation !== "none";
}

export function hardened(c: VmConfig, h: Hardening): boolean {
  return !c.unharden.includes(h);
}
