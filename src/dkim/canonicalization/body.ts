/**
 * Shared machinery of the two body canonicalisations (RFC 6376 §3.4.3, §3.4.4): an output buffer
 * handed to a sink when full, and the deferred line ends that make trailing empty lines vanish.
 * Input may arrive in chunks split anywhere (even between CR and LF); a bare LF counts as CRLF,
 * as it would after SMTP's line-ending conversion.
 *
 * Both algorithms keep their state in one object shape ({@link BodyState}) and run as plain
 * functions over it: the byte loops are the hot path of signing and verifying, and V8 keeps them
 * fast only while every object they see has the same layout.
 */

import { MailPkiError } from '../../errors.js';

/**
 * Receives canonical body bytes: the canonicaliser's buffer (reused after the call returns) or a
 * piece of the input itself. Either way the sink reads them during the call and keeps none.
 */
export type BodySink = (bytes: Uint8Array) => void;

export interface BodyCanonicalizer {
  update(chunk: Uint8Array): void;
  /** Flushes what is left and ends the body. The canonicaliser cannot be used after. */
  finish(): void;
}

/**
 * Input is worked on in pieces of this size; each piece can at most double (bare LF → CRLF). The
 * output buffer (2 × PIECE, reused across bodies) stays small; a stretch of canonical input handed
 * on without a copy is at most a piece, so a typical message body goes to the sink in one or two calls.
 */
const PIECE = 4096;
const CAP = 2 * PIECE + 64;

/** Stretches of canonical input at least this long are handed to the sink without a copy. */
const DIRECT_MIN = 256;

/** Output buffers of finished bodies, for the next ones (a body allocates none in the steady state). */
const spare: Uint8Array[] = [];
const SPARE_MAX = 8;

/** The state of one body being canonicalised, whichever the algorithm. */
export class BodyState {
  readonly out = spare.pop() ?? new Uint8Array(CAP);
  o = 0;
  /** Line ends seen since the last content byte, not yet written. */
  pendingLines = 0;
  wroteContent = false;
  /** The previous chunk ended in CR. */
  cr = false;
  /** Relaxed only: WSP seen since the last content byte. */
  space = false;

  constructor(private readonly sink: BodySink) {}

  /** Makes room for `n` bytes at `o` (flushing); `n` is at most the buffer's size. */
  ensure(n: number): void {
    if (this.o + n > this.out.length) this.flush();
  }

  flush(): void {
    if (this.o > 0) {
      this.wroteContent = true;
      this.sink(this.out.subarray(0, this.o));
    }
    this.o = 0;
  }

  /**
   * Writes `lines` deferred line ends at `o` before a content byte, keeping `room` bytes free
   * after them; returns the new write position. Flushes as the buffer fills only when they do not
   * fit (rare: many empty lines in a row). The caller keeps `pendingLines` up to date.
   */
  writeLines(o: number, lines: number, room: number): number {
    const out = this.out;
    const fits = o + 2 * lines + room <= out.length;
    for (; lines > 0; lines--) {
      if (!fits && o + 2 > out.length) {
        this.o = o;
        this.flush();
        o = 0;
      }
      out[o++] = 13;
      out[o++] = 10;
    }
    if (!fits && o + room > out.length) {
      this.o = o;
      this.flush();
      o = 0;
    }
    return o;
  }

  /**
   * Ends a stretch of input found already canonical: `chunk[start..end]` ends in content (or is
   * empty), and `lines` CRLFs follow it. Writes the deferred line ends, then the stretch, and
   * defers the `lines`. A long stretch goes to the sink as it is (no copy); a short one is copied,
   * so a body of many short stretches does not cost a sink call each.
   */
  span(chunk: Uint8Array, start: number, end: number, lines: number): void {
    if (end === start) {
      this.pendingLines += lines;
      return;
    }
    let o = this.pendingLines > 0 ? this.writeLines(this.o, this.pendingLines, 2 * (chunk.length - start) + 6) : this.o;
    this.pendingLines = lines;
    if (end - start >= DIRECT_MIN) {
      this.o = o;
      this.flush();
      this.sink(chunk.subarray(start, end));
      this.wroteContent = true;
      return;
    }
    const out = this.out;
    for (let k = start; k < end; k++) out[o++] = chunk[k]!;
    this.o = o;
  }

  /** A CR that ended the input is content: writes the lines before it, the WSP (relaxed) and the CR. */
  finalCr(): void {
    if (!this.cr) return;
    this.cr = false;
    let o = this.writeLines(this.o, this.pendingLines, 4);
    this.pendingLines = 0;
    if (this.space) {
      this.out[o++] = 32;
      this.space = false;
    }
    this.out[o++] = 13;
    this.o = o;
    this.wroteContent = true;
  }

  writeFinalCrlf(): void {
    this.ensure(2);
    this.out[this.o++] = 13;
    this.out[this.o++] = 10;
    this.flush();
  }

  /** Hands the buffer on when the body is done (sinks never keep it: see BodySink). */
  release(): void {
    if (spare.length < SPARE_MAX) spare.push(this.out);
  }
}

/**
 * Rewrites one line byte by byte, from `start` up to and including its LF (or the end of the
 * chunk), for the lines a canonical stretch stopped at; returns where it stopped. A bare LF is a
 * line end, a bare CR content; `relaxed` also makes each WSP run one SP and drops WSP at the line
 * end (the run is held in `space` until content follows).
 */
export function rewriteLine(s: BodyState, chunk: Uint8Array, start: number, relaxed: boolean): number {
  // The state lives in locals inside the loop; it goes back to the object only around the
  // rare calls that write deferred line ends past the end of the buffer.
  const out = s.out;
  const n = chunk.length;
  let o = s.o;
  let cr = s.cr;
  let space = s.space;
  let lines = s.pendingLines;
  let i = start;
  for (; i < n; i++) {
    let c = chunk[i]!;
    if (cr) {
      cr = false;
      if (c === 10) {
        space = false;
        lines++;
        i++;
        break;
      }
      // A bare CR is content: write it, then look at this byte again.
      i--;
      c = 13;
    } else if (c === 13) {
      cr = true;
      continue;
    } else if (c === 10) {
      space = false;
      lines++;
      i++;
      break;
    } else if (relaxed && (c === 32 || c === 9)) {
      space = true;
      continue;
    }
    if (lines > 0) {
      o = s.writeLines(o, lines, 2 * (n - i) + 6);
      lines = 0;
    }
    if (space) {
      out[o++] = 32;
      space = false;
    }
    out[o++] = c;
  }
  s.o = o;
  s.cr = cr;
  s.space = space;
  s.pendingLines = lines;
  return i;
}

/** One algorithm: a loop over a piece (output has room for twice its length plus 4) and an end. */
export interface BodyAlgorithm {
  piece(s: BodyState, chunk: Uint8Array): void;
  finish(s: BodyState): void;
}

/** Feeds input to an algorithm in pieces, so the output buffer never overflows. */
export class BodyCanonicalizerOf implements BodyCanonicalizer {
  private readonly s: BodyState;
  constructor(
    private readonly alg: BodyAlgorithm,
    sink: BodySink,
  ) {
    this.s = new BodyState(sink);
  }

  private done = false;

  update(chunk: Uint8Array): void {
    // After finish() the buffer belongs to another body: refuse rather than write into it.
    if (this.done) throw new MailPkiError('ERR_INVALID_INPUT', 'body canonicaliser used after finish()');
    for (let i = 0; i < chunk.length; i += PIECE) {
      const piece = chunk.length <= PIECE ? chunk : chunk.subarray(i, i + PIECE);
      this.s.ensure(piece.length * 2 + 4);
      this.alg.piece(this.s, piece);
    }
  }

  finish(): void {
    if (this.done) throw new MailPkiError('ERR_INVALID_INPUT', 'body canonicaliser finished twice');
    this.done = true;
    this.alg.finish(this.s);
    this.s.release();
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
