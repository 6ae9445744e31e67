import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createImageFile, openFileDisk } from "../../../src/host/backends/file-disk.ts";
import { ScsiStatus } from "../../../src/host/scsi/constants.ts";
import { ScsiTarget } from "../../../src/host/scsi/target.ts";
import { pattern } from "./pattern.ts";

const dir = fs.mkdtempSync(join(tmpdir(), "hvcoco-disk-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const CHILD = fileURLToPath(new URL("./flush-child.ts", import.meta.url));

test("a flushed write survives the writer being killed with SIGKILL", async () => {
  const img = join(dir, "kill.img");
  assert.equal(createImageFile(img, 8 * 1024 * 1024), undefined);
  const lba = 1000;
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
    child.on("exit", (code) => reject(new Error(`child exited (${code}) before acknowledging: ${err}`)));
  });
  child.kill("SIGKILL");
  const how = await exited;
  assert.equal(how.signal, "SIGKILL");
  const bytes = fs.readFileSync(img);
  const want = pattern(128 * 512, 1);
  assert.ok(
    Buffer.from(want).equals(bytes.subarray(lba * 512, lba * 512 + want.length)),
    "the acknowledged-flushed pattern is in the image",
  );
});

test("read, write, flush round-trip through the file; counters", () => {
  const img = join(dir, "rw.img");
  assert.equal(createImageFile(img, 1024 * 1024), undefined);
  const r = openFileDisk(img);
  assert.ok(r.ok);
  const d = r.disk;
  assert.equal(d.blocks, 2048);
  const data = pattern(4096, 2);
  assert.equal(d.write(8, 8, data, 0), undefined);
  assert.equal(d.flush(), undefined);
  const back = new Uint8Array(4096);
  assert.equal(d.read(8, 8, back, 0), undefined);
  assert.deepEqual(back, data);
  assert.deepEqual(d.stats, { reads: 1, writes: 1, flushes: 1, bytesRead: 4096, bytesWritten: 4096 });
  assert.ok(Buffer.from(data).equals(fs.readFileSync(img).subarray(4096, 8192)));
  assert.throws(() => d.read(2047, 2, back, 0), /outside/);
  d.close();
  assert.throws(() => d.read(0, 1, back, 0), /after close/);
});

test("a read-only image refuses writes at the SCSI level and is opened read-only", () => {
  const img = join(dir, "ro.img");
  createImageFile(img, 64 * 1024);
  const r = openFileDisk(img, { readOnly: true });
  assert.ok(r.ok);
  const t = new ScsiTarget([r.disk]);
  const res = t.execute({
    lun: 0,
    cdb: new Uint8Array([0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
    dataOut: new Uint8Array(512),
  });
  assert.equal(res.status, ScsiStatus.CHECK_CONDITION);
  assert.equal(res.sense[2], 0x07);
  r.disk.close();
});

test("an image truncated under the disk reads as a typed I/O error (MEDIUM ERROR)", () => {
  const img = join(dir, "shrink.img");
  createImageFile(img, 64 * 1024);
  const r = openFileDisk(img);
  assert.ok(r.ok);
  fs.truncateSync(img, 4096);
  const e = r.disk.read(100, 1, new Uint8Array(512), 0);
  assert.equal(e?.code, "HVCOCO_ERR_DISK_IO");
  const t = new ScsiTarget([r.disk]);
  const res = t.execute({
    lun: 0,
    cdb: new Uint8Array([0x28, 0, 0, 0, 0, 100, 0, 0, 1, 0]),
    dataIn: new Uint8Array(512),
  });
  assert.equal(res.status, ScsiStatus.CHECK_CONDITION);
  assert.equal(res.sense[2], 0x03);
  r.disk.close();
});

test("bad images: one clear line naming the file and the problem, nothing written", () => {
  const odd = join(dir, "odd.img");
  fs.writeFileSync(odd, new Uint8Array(1000).fill(7));
  const empty = join(dir, "empty.img");
  fs.writeFileSync(empty, new Uint8Array(0));
  const cases: [string, RegExp][] = [
    [join(dir, "missing.img"), /no such file/],
    [dir, /directory|not a regular file/],
    [empty, /empty/],
    [odd, /size 1000 bytes is not a multiple of the 512-byte block/],
  ];
  for (const [path, why] of cases) {
    const r = openFileDisk(path);
    assert.equal(r.ok, false, path);
    if (r.ok) continue;
    assert.equal(r.error.code, "HVCOCO_ERR_DISK_IMAGE");
    assert.match(r.error.message, why);
    assert.ok(r.error.message.includes(path));
    assert.ok(!r.error.message.includes("\n"));
  }
  assert.deepEqual(fs.readFileSync(odd), Buffer.from(new Uint8Array(1000).fill(7)));
  const four = openFileDisk(odd, { blockSize: 4096 });
  assert.equal(four.ok, false);
  assert.match(createImageFile(join(dir, "x.img"), 1000)?.message ?? "", /not a multiple/);
});

test("an unreadable image is refused with 'permission denied'", (t) => {
  if (process.getuid?.() === 0) {
    t.skip("root reads any file");
    return;
  }
  const img = join(dir, "locked.img");
  createImageFile(img, 4096);
  fs.chmodSync(img, 0);
  const r = openFileDisk(img);
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.error.message, /permission denied/);
});
