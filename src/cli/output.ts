// Output files of the CLI: checked before any work starts (one line and exit 2
// for a bad path), written to a temporary file beside the target and renamed
// over it only when complete, so a failed run never loses what was there.
import { closeSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { UsageError } from "./errors.ts";

/** Check that `file` can be written (its folder exists and it is not a folder); returns its absolute path. */
export function checkOutPath(file: string, flag = "--out"): string {
  if (file.trim() === "") throw new UsageError(`${flag} needs a file name`);
  const abs = resolve(file);
  const dir = dirname(abs);
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(dir);
  } catch (e) {
    throw new UsageError(
      `cannot write ${file}: folder ${dir} ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "does not exist" : `is unreachable (${(e as NodeJS.ErrnoException).code})`}`,
    );
  }
  if (!st.isDirectory()) throw new UsageError(`cannot write ${file}: ${dir} is not a folder`);
  try {
    if (statSync(abs).isDirectory()) throw new UsageError(`cannot write ${file}: it is a folder`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    // ENOENT: a new file, fine.
  }
  return abs;
}

function ioError(file: string, e: unknown): UsageError {
  const code = (e as NodeJS.ErrnoException).code;
  return new UsageError(`cannot write ${file}: ${code ?? (e as Error).message}`);
}

/**
 * A file written in pieces and put in place at the end: write() buffers into a
 * temporary file in the same folder, commit() renames it over the target,
 * abort() removes it. The target is untouched until commit().
 */
export class AtomicFile {
  readonly path: string;
  readonly #tmp: string;
  #fd: number | undefined;
  #buf: Uint8Array[] = [];
  #buffered = 0;
  #bytes = 0;

  private constructor(path: string, tmp: string, fd: number) {
    this.path = path;
    this.#tmp = tmp;
    this.#fd = fd;
  }

  static open(file: string, flag = "--out"): AtomicFile {
    const abs = checkOutPath(file, flag);
    for (let n = 0; ; n++) {
      const tmp = join(dirname(abs), `.${basename(abs)}.${process.pid}.${n}.tmp`);
      try {
        return new AtomicFile(abs, tmp, openSync(tmp, "wx", 0o644));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EEXIST" && n < 100) continue;
        throw ioError(file, e);
      }
    }
  }

  get bytes(): number {
    return this.#bytes;
  }

  write(chunk: Uint8Array | string): void {
    const b = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    this.#buf.push(b);
    this.#buffered += b.length;
    this.#bytes += b.length;
    if (this.#buffered >= 1 << 20) this.#flush();
  }

  #flush(): void {
    if (this.#fd === undefined || this.#buffered === 0) return;
    const all = Buffer.concat(this.#buf, this.#buffered);
    this.#buf = [];
    this.#buffered = 0;
    try {
      let at = 0;
      while (at < all.length) at += writeSync(this.#fd, all, at, all.length - at);
    } catch (e) {
      this.abort();
      throw ioError(this.path, e);
    }
  }

  /** Put the file in place. */
  commit(): void {
    this.#flush();
    if (this.#fd === undefined) throw new Error("AtomicFile already closed");
    try {
      closeSync(this.#fd);
      this.#fd = undefined;
      renameSync(this.#tmp, this.path);
    } catch (e) {
      this.abort();
      throw ioError(this.path, e);
    }
  }

  /** Drop what was written; the target keeps its old contents. */
  abort(): void {
    if (this.#fd !== undefined) {
      try {
        closeSync(this.#fd);
      } catch {
        // already closed
      }
      this.#fd = undefined;
    }
    rmSync(this.#tmp, { force: true });
  }
}

/** Write a whole file atomically. */
export function writeFileAtomic(file: string, content: Uint8Array | string, flag = "--out"): number {
  const f = AtomicFile.open(file, flag);
  try {
    f.write(content);
    f.commit();
  } catch (e) {
    f.abort();
    throw e;
  }
  return f.bytes;
}
