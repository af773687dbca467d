/**
 * Shared machinery of the two body canonicalisations (RFC 6376 §3.4.3, §3.4.4): an output buffer
 * handed to a sink when full, and the deferred line ends that make trailing empty lines vanish.
 * Input may arrive in chunks split anywhere (even between CR and LF); a bare LF counts as CRLF,
 * as it would after SMTP's line-ending conversion.
 */

/** Receives canonical body bytes; the array is reused after the call returns. */
export type BodySink = (bytes: Uint8Array) => void;

export interface BodyCanonicalizer {
  update(chunk: Uint8Array): void;
  /** Flushes what is left and ends the body. The canonicaliser cannot be used after. */
  finish(): void;
}

/** Input is worked on in pieces of this size; each piece can at most double (bare LF → CRLF). */
const PIECE = 8 * 1024;
const CAP = 2 * PIECE + 64;

export abstract class BodyBase implements BodyCanonicalizer {
  protected out = new Uint8Array(CAP);
  protected o = 0;
  /** Line ends seen since the last content byte, not yet written. */
  protected pendingLines = 0;
  protected wroteContent = false;
  /** The previous chunk ended in CR. */
  protected cr = false;

  constructor(private readonly sink: BodySink) {}

  update(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i += PIECE) {
      const piece = chunk.length <= PIECE ? chunk : chunk.subarray(i, i + PIECE);
      this.ensure(piece.length * 2 + 4);
      this.piece(piece);
    }
  }

  /** Canonicalises `piece`; `out` has room for twice its length plus 4 from `o`. */
  protected abstract piece(piece: Uint8Array): void;
  abstract finish(): void;

  protected ensure(n: number): void {
    if (this.o + n > this.out.length) {
      this.flush();
      if (n > this.out.length) this.out = new Uint8Array(n);
    }
  }

  protected flush(): void {
    if (this.o > 0) {
      this.wroteContent = true;
      this.sink(this.out.subarray(0, this.o));
    }
    this.o = 0;
  }

  /**
   * Writes the deferred line ends before a content byte at `o`, keeping room for `room` more
   * bytes after them; returns the new write position.
   */
  protected linesBeforeContent(o: number, room: number): number {
    this.o = o;
    this.writePendingLines();
    this.ensure(room);
    return this.o;
  }

  private writePendingLines(): void {
    let n = this.pendingLines;
    this.pendingLines = 0;
    while (n > 0) {
      if (this.o + 2 > this.out.length) this.flush();
      this.out[this.o++] = 13;
      this.out[this.o++] = 10;
      n--;
    }
  }

  protected writeFinalCrlf(): void {
    this.ensure(2);
    this.out[this.o++] = 13;
    this.out[this.o++] = 10;
    this.flush();
  }
}

/** A sink that keeps only the first `limit` bytes (the l= tag); `seen` counts them all. */
export function limitSink(sink: BodySink, limit: number | undefined): BodySink & { seen: () => number } {
  let seen = 0;
  const f = ((bytes: Uint8Array) => {
    const room = limit === undefined ? bytes.length : Math.max(0, Math.min(bytes.length, limit - seen));
    seen += bytes.length;
    if (room > 0) sink(room === bytes.length ? bytes : bytes.subarray(0, room));
  }) as BodySink & { seen: () => number };
  f.seen = () => seen;
  return f;
}
