/** The "relaxed" canonicalisation (RFC 6376 §3.4.2 headers, §3.4.4 body). */
import { BodyBase } from './body.js';
import { asciiLower, isWsp } from './text.js';

/**
 * One header field, relaxed: name lower-cased, continuation line breaks removed, each run of
 * WSP made one space, WSP at the ends of the value and around the colon removed, CRLF added.
 * `field` is the whole field as a binary string (one char per byte), without its final CRLF.
 */
export function relaxedHeader(field: string): string {
  const colon = field.indexOf(':');
  const name = colon < 0 ? field : field.slice(0, colon);
  const value = colon < 0 ? '' : field.slice(colon + 1);
  let out = '';
  let space = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 13 && value.charCodeAt(i + 1) === 10) {
      i++;
      continue;
    }
    if (isWsp(c)) {
      space = true;
      continue;
    }
    if (space && out.length > 0) out += ' ';
    space = false;
    out += value[i];
  }
  let n = name.length;
  while (n > 0 && isWsp(name.charCodeAt(n - 1))) n--;
  return `${asciiLower(name.slice(0, n))}:${out}\r\n`;
}

/**
 * Relaxed body: WSP at line ends removed, other WSP runs made one space, empty lines at the end
 * removed, and a CRLF added to a non-empty body that lacks one. An empty body stays empty.
 */
export class RelaxedBody extends BodyBase {
  private space = false;

  protected piece(chunk: Uint8Array): void {
    const out = this.out;
    let o = this.o;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (this.cr) {
        this.cr = false;
        if (c === 10) {
          this.space = false;
          this.pendingLines++;
          continue;
        }
        // A bare CR is content.
        o = this.content(o, 13, 2 * (chunk.length - i) + 6);
      }
      if (c === 13) {
        this.cr = true;
        continue;
      }
      if (c === 10) {
        this.space = false;
        this.pendingLines++;
        continue;
      }
      if (c === 32 || c === 9) {
        this.space = true;
        continue;
      }
      if (this.pendingLines === 0 && !this.space) {
        out[o++] = c;
        continue;
      }
      o = this.content(o, c, 2 * (chunk.length - i) + 4);
    }
    this.o = o;
  }

  private content(o: number, c: number, room: number): number {
    if (this.pendingLines > 0) o = this.linesBeforeContent(o, room);
    if (this.space) {
      this.out[o++] = 32;
      this.space = false;
    }
    this.out[o++] = c;
    this.wroteContent = true;
    return o;
  }

  finish(): void {
    if (this.cr) {
      this.cr = false;
      this.ensure(4);
      this.o = this.content(this.o, 13, 4);
    }
    if (this.o > 0) this.wroteContent = true;
    if (this.wroteContent) this.writeFinalCrlf();
    else this.flush();
  }
}
