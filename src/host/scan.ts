// A curious host: read guest memory through its own view and keep what it got.
// It reads every page its SLAT maps, and any other pages it is pointed at; the
// auditor, not this code, decides whether anything secret came back in plaintext.
import { PAGE_SIZE } from "../platform/page.ts";
import type { UntrustedView } from "../platform/untrusted-view.ts";

export interface ScanResult {
  pagesRead: number;
  bytesRead: number;
}

export function hostScan(view: UntrustedView, extraPfns: Iterable<number> = []): ScanResult {
  const buf = new Uint8Array(PAGE_SIZE);
  let pagesRead = 0;
  for (const run of view.mappedRuns()) {
    for (let i = 0; i < run.count; i++) {
      view.read((run.pfn + i) * PAGE_SIZE, PAGE_SIZE, buf);
      pagesRead++;
    }
  }
  for (const pfn of extraPfns) {
    if (view.outcome(pfn, false) === "plaintext") continue; // already read above
    view.read(pfn * PAGE_SIZE, PAGE_SIZE, buf);
    pagesRead++;
  }
  return { pagesRead, bytesRead: pagesRead * PAGE_SIZE };
}

/** Read every page of the guest's address space (slow for large guests: tests use small ones). */
export function hostScanAll(view: UntrustedView): ScanResult {
  const buf = new Uint8Array(PAGE_SIZE);
  for (let pfn = 0; pfn < view.pages; pfn++) view.read(pfn * PAGE_SIZE, PAGE_SIZE, buf);
  return { pagesRead: view.pages, bytesRead: view.pages * PAGE_SIZE };
}
