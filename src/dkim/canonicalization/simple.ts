/** The "simple" canonicalisation (RFC 6376 §3.4.1 headers, §3.4.3 body). */
import type { BodyAlgorithm, BodyState } from './body.js';
import { headerString } from './text.js';

/** One header field, simple: exactly as it is in the message, with its CRLF. Written into `out` at `o`. */
export function writeSimpleHeader(field: string, out: Uint8Array, o: number): number {
  for (let i = 0; i < field.length; i++) out[o++] = field.charCodeAt(i);
  out[o++] = 13;
  out[o++] = 10;
  return o;
}

/** {@link writeSimpleHeader} as a string (one char per byte). */
export function simpleHeader(field: string): string {
  return headerString(field, writeSimpleHeader);
}

/**
 * Simple body: unchanged, except that empty lines at the end are removed and the body ends in
 * exactly one CRLF (an empty body becomes a single CRLF).
 */
export const simpleBody: BodyAlgorithm = {
  piece(s: BodyState, chunk: Uint8Array): void {
    // State in locals inside the loop, as in relaxedBody.
    const out = s.out;
    const n = chunk.length;
    let o = s.o;
    let cr = s.cr;
    let lines = s.pendingLines;
    for (let i = 0; i < n; i++) {
      let c = chunk[i]!;
      if (cr) {
        cr = false;
        if (c === 10) {
          lines++;
          continue;
        }
        // A bare CR is content: write it, then look at this byte again.
        i--;
        c = 13;
      } else if (c === 13) {
        cr = true;
        continue;
      } else if (c === 10) {
        lines++;
        continue;
      }
      if (lines > 0) {
        o = s.writeLines(o, lines, 2 * (n - i) + 6);
        lines = 0;
      }
      out[o++] = c;
      // The rest of a run of bytes other than CR and LF: copy it in a tight loop.
      while (i + 1 < n) {
        const d = chunk[i + 1]!;
        if (d === 13 || d === 10) break;
        out[o++] = d;
        i++;
      }
    }
    s.o = o;
    s.cr = cr;
    s.pendingLines = lines;
  },

  finish(s: BodyState): void {
    s.finalCr();
    s.writeFinalCrlf();
  },
};
