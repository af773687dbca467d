/** The "simple" canonicalisation (RFC 6376 §3.4.1 headers, §3.4.3 body). */
import { BodyBase } from './body.js';

/** One header field, simple: exactly as it is in the message, with its CRLF. */
export function simpleHeader(field: string): string {
  return `${field}\r\n`;
}

/**
 * Simple body: unchanged, except that empty lines at the end are removed and the body ends in
 * exactly one CRLF (an empty body becomes a single CRLF).
 */
export class SimpleBody extends BodyBase {
  protected piece(chunk: Uint8Array): void {
    const out = this.out;
    let o = this.o;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (this.cr) {
        this.cr = false;
        if (c === 10) {
          this.pendingLines++;
          continue;
        }
        o = this.content(o, 13, 2 * (chunk.length - i) + 6);
      }
      if (c === 13) {
        this.cr = true;
        continue;
      }
      if (c === 10) {
        this.pendingLines++;
        continue;
      }
      if (this.pendingLines === 0) out[o++] = c;
      else o = this.content(o, c, 2 * (chunk.length - i) + 4);
    }
    this.o = o;
  }

  private content(o: number, c: number, room: number): number {
    if (this.pendingLines > 0) o = this.linesBeforeContent(o, room);
    this.out[o++] = c;
    return o;
  }

  finish(): void {
    if (this.cr) {
      this.cr = false;
      this.ensure(4);
      this.o = this.content(this.o, 13, 4);
    }
    this.writeFinalCrlf();
  }
}
