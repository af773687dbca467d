/** The "relaxed" canonicalisation (RFC 6376 §3.4.2 headers, §3.4.4 body). */
import type { BodyAlgorithm, BodyState } from './body.js';
import { asciiLower, isWsp } from './text.js';

/**
 * One header field, relaxed: name lower-cased, continuation line breaks removed, each run of
 * WSP made one space, WSP at the ends of the value and around the colon removed, CRLF added.
 * `field` is the whole field as a binary string (one char per byte), without its final CRLF.
 */
export function relaxedHeader(field: string): string {
  const colon = field.indexOf(':');
  const name = colon < 0 ? field : field.slice(0, colon);
  let value = colon < 0 ? '' : field.slice(colon + 1);
  // Regular expressions run natively: faster here than building the string a char at a time.
  if (value.includes('\r\n')) value = value.replace(CRLF, '');
  value = value.replace(WSP_RUN, ' ');
  const start = value.charCodeAt(0) === 32 ? 1 : 0;
  const end = value.length > start && value.charCodeAt(value.length - 1) === 32 ? value.length - 1 : value.length;
  let n = name.length;
  while (n > 0 && isWsp(name.charCodeAt(n - 1))) n--;
  return `${asciiLower(name.slice(0, n))}:${value.slice(start, end)}\r\n`;
}

const CRLF = /\r\n/g;
const WSP_RUN = /[ \t]+/g;

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
