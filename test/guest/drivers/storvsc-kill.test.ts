// SYNCHRONIZE CACHE through the whole VMBus path makes the data durable: a child
// process runs a CoCo VM on an image file, the guest writes through storvsc and
// flushes, and the child is killed with SIGKILL right after it says the flush
// completed. The image holds what was flushed.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createImageFile } from "../../../src/host/backends/file-disk.ts";
import { diskPattern } from "../../../src/vm/disk-workload.ts";

const dir = fs.mkdtempSync(join(tmpdir(), "hvcoco-storvsc-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const CHILD = fileURLToPath(new URL("./storvsc-kill-child.ts", import.meta.url));

test("a write acknowledged by SYNCHRONIZE CACHE through storvsc and storvsp survives SIGKILL of the process", async () => {
  const img = join(dir, "kill.img");
  assert.equal(createImageFile(img, 8 * 1024 * 1024), undefined);
  const lba = 2048;
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, img, String(lba)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => {
    err += String(d);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += String(d);
      if (out.includes("flushed\n")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`child exited (${code}) before the flush: ${err}`)));
  });
  child.kill("SIGKILL");
  const how = await exited;
  assert.equal(how.signal, "SIGKILL");
  const bytes = fs.readFileSync(img);
  const want = new Uint8Array(512 * 1024);
  diskPattern(want, lba, 512);
  const got = bytes.subarray(lba * 512, lba * 512 + want.length);
  assert.ok(Buffer.from(want).equals(got), "the flushed pattern is in the image");
});
