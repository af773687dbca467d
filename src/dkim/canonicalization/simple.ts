/** The "simple" canonicalisation (RFC 6376 §3.4.1 headers, §3.4.3 body). */
import { rewriteLine, type BodyAlgorithm, type BodyState } from './body.js';
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
 * exactly one CRLF (an empty body becomes a single CRLF). A bare LF counts as CRLF.
 *
 * Read in two modes, as the relaxed body is: {@link simpleSpan} hands on whole CRLF lines as they
 * are; {@link rewriteLine} rewrites the line where it stopped.
 */
export const simpleBody: BodyAlgorithm = {
  piece(s: BodyState, chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (!s.cr) i = simpleSpan(s, chunk, i);
      if (i < n) i = rewriteLine(s, chunk, i, false);
    }
  },

  finish(s: BodyState): void {
    s.finalCr();
    s.writeFinalCrlf();
  },
};

/**
 * From `start` (not after a CR), the whole lines ending in CRLF: their content is written as it
 * is (see {@link BodyState.span}), the CRLFs after the last content byte are deferred. Returns
 * where it stopped: at a line with a bare LF, or at the last incomplete line.
 */
function simpleSpan(s: BodyState, chunk: Uint8Array, start: number): number {
  let j = start;
  let last = start;
  let lines = 0;
  for (;;) {
    const lf = chunk.indexOf(10, j);
    if (lf <= j || chunk[lf - 1] !== 13) break;
    if (lf - 1 > j) {
      last = lf - 1;
      lines = 1;
    } else lines++;
    j = lf + 1;
  }
  s.span(chunk, start, last, lines);
  return j;
}
