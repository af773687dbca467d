/** The "relaxed" canonicalisation (RFC 6376 §3.4.2 headers, §3.4.4 body). */
import type { BodyAlgorithm, BodyState } from './body.js';
import { headerString, isWsp } from './text.js';

/**
 * One header field, relaxed: name lower-cased (A–Z only), continuation line breaks removed, each
 * run of WSP made one space, WSP at the ends of the value and around the colon removed, CRLF
 * added. `field` is the whole field as a binary string (one char per byte), without its final
 * CRLF. Written into `out` at `o` (room for `field.length + 3` bytes); returns the new offset.
 */
export function writeRelaxedHeader(field: string, out: Uint8Array, o: number): number {
  const colon = field.indexOf(':');
  let nameEnd = colon < 0 ? field.length : colon;
  while (nameEnd > 0 && isWsp(field.charCodeAt(nameEnd - 1))) nameEnd--;
  for (let i = 0; i < nameEnd; i++) {
    const c = field.charCodeAt(i);
    out[o++] = c >= 65 && c <= 90 ? c + 32 : c;
  }
  out[o++] = 58;
  const valueStart = o;
  let space = false;
  for (let i = colon < 0 ? field.length : colon + 1; i < field.length; i++) {
    const c = field.charCodeAt(i);
    if (c === 13 && field.charCodeAt(i + 1) === 10) {
      i++;
      continue;
    }
    if (c === 32 || c === 9) {
      space = true;
      continue;
    }
    if (space && o > valueStart) out[o++] = 32;
    space = false;
    out[o++] = c;
  }
  out[o++] = 13;
  out[o++] = 10;
  return o;
}

/** {@link writeRelaxedHeader} as a string (one char per byte). */
export function relaxedHeader(field: string): string {
  return headerString(field, writeRelaxedHeader);
}

/**
 * Relaxed body: WSP at line ends removed, other WSP runs made one space, empty lines at the end
 * removed, and a CRLF added to a non-empty body that lacks one. An empty body stays empty.
 */
export const relaxedBody: BodyAlgorithm = {
  piece(s: BodyState, chunk: Uint8Array): void {
    // The state lives in locals inside the loop; it goes back to the object only around the
    // rare calls that write deferred line ends past the end of the buffer.
    const out = s.out;
    const n = chunk.length;
    let o = s.o;
    let cr = s.cr;
    let space = s.space;
    let lines = s.pendingLines;
    for (let i = 0; i < n; i++) {
      let c = chunk[i]!;
      if (cr) {
        cr = false;
        if (c === 10) {
          space = false;
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
        space = false;
        lines++;
        continue;
      } else if (c === 32 || c === 9) {
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
      // The rest of a run of plain bytes needs no state: copy it in a tight loop.
      while (i + 1 < n) {
        const d = chunk[i + 1]!;
        if (d === 32 || d === 13 || d === 10 || d === 9) break;
        out[o++] = d;
        i++;
      }
    }
    s.o = o;
    s.cr = cr;
    s.space = space;
    s.pendingLines = lines;
  },

  finish(s: BodyState): void {
    s.finalCr();
    if (s.o > 0) s.wroteContent = true;
    if (s.wroteContent) s.writeFinalCrlf();
    else s.flush();
  },
};
