// The measured launch of the paravisor (C25): the host loads the paravisor image
// page by page and the platform security processor measures each page as it goes
// (SNP_LAUNCH_START / LAUNCH_UPDATE / LAUNCH_FINISH), so what is measured is what
// the host actually loaded. A host that changes one byte of the image changes the
// measurement, and the guest's check of the report fails.
import { type ParavisorImage, referenceParavisorImage } from "../paravisor/measurement.ts";
import { SEV_RET, type SevStatus } from "../platform/attestation.ts";
import type { Platform } from "../platform/platform.ts";

/** The image the host loads for this configuration: the reference image, or one byte changed. */
export function paravisorImageFor(p: Platform): ParavisorImage {
  const image = referenceParavisorImage({
    isolation: p.config.isolation === "tdx" ? "tdx" : "snp",
    vtomBit: p.sharedBoundaryBits,
  });
  return p.config.paravisorImage === "tampered" ? tamperImage(image) : image;
}

/** Flip one bit of one byte of the first code page (byte 0x100): what a malicious host might patch. */
export function tamperImage(image: ParavisorImage, page = 0, byte = 0x100): ParavisorImage {
  return {
    pages: image.pages.map((pg, i) => {
      if (i !== page || pg.contents === undefined) return pg;
      const contents = pg.contents.slice();
      contents[byte] = contents[byte]! ^ 0x01;
      return { ...pg, contents };
    }),
  };
}

/** The platform measures the image as the host loads it. Throws on a model bug (a malformed image). */
export function launchParavisor(p: Platform, image: ParavisorImage): void {
  const st: SevStatus = p.psp.launch(image.pages);
  if (st !== SEV_RET.SUCCESS) throw new Error(`paravisor launch failed: SEV status 0x${st.toString(16)}`);
  p.audit.boundary.cross("measurement", "host", "platform", "measured launch of the paravisor image", () => ({
    pages: image.pages.length,
  }));
}
