/** The "relaxed" canonicalisation (RFC 6376 §3.4.2 headers, §3.4.4 body). */
import { rewriteLine, type BodyAlgorithm, type BodyState } from './body.js';
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
 *
 * Most mail is already in this form but for its trailing empty lines, so a piece is read in two
 * modes: {@link relaxedSpan} finds the stretch that needs no change and hands it on as it is;
 * {@link rewriteLine} rewrites byte by byte up to the end of the line where the stretch stopped.
 */
export const relaxedBody: BodyAlgorithm = {
  piece(s: BodyState, chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      // The span scanner starts only in a clean state: not after a CR or WSP the line may still change.
      if (!s.cr && !s.space) i = relaxedSpan(s, chunk, i);
      if (i < n) i = rewriteLine(s, chunk, i, true);
    }
  },

  finish(s: BodyState): void {
    s.finalCr();
    if (s.o > 0) s.wroteContent = true;
    if (s.wroteContent) s.writeFinalCrlf();
    else s.flush();
  },
};

/**
 * From `start` (a clean state), the longest stretch whose relaxed form is itself: CRLF line ends,
 * no tab, no SP before WSP or a line end. Its content is written (see {@link BodyState.span}); the
 * CRLFs after its last content byte become deferred line ends. Returns where it stopped.
 */
function relaxedSpan(s: BodyState, chunk: Uint8Array, start: number): number {
  const n = chunk.length;
  let j = start;
  let last = start;
  let lines = 0;
  while (j < n) {
    const c = chunk[j]!;
    if (c > 32) {
      // A run of content (most of a body) in a tight loop.
      while (++j < n && chunk[j]! > 32);
      last = j;
      lines = 0;
    } else if (c === 32) {
      // One SP is kept as it is only before content (seen in this chunk).
      const d = j + 1 < n ? chunk[j + 1]! : 32;
      if (d === 32 || d === 9 || d === 13 || d === 10) break;
      j++;
    } else if (c === 13) {
      if (j + 1 >= n || chunk[j + 1] !== 10) break;
      lines++;
      j += 2;
    } else if (c === 9 || c === 10) break;
    else {
      last = ++j;
      lines = 0;
    }
  }
  s.span(chunk, start, last, lines);
  return j;
}
