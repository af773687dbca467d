/**
 * The header block of a message as DKIM sees it: each field with its exact bytes (continuation
 * line breaks made CRLF), and where the body starts. Not a MIME parser: DKIM signs bytes.
 */
import { asciiLower, bytesToBinary, isWsp } from './canonicalization/text.js';

export interface RawHeaderField {
  /** Lower-cased field name (ASCII only), without trailing WSP. */
  readonly key: string;
  /** The whole field, one char per byte, line breaks inside as CRLF, without the final CRLF. */
  readonly raw: string;
}

export interface SplitMessage {
  readonly headers: RawHeaderField[];
  /** Offset of the first body byte (the message length when there is no body). */
  readonly bodyStart: number;
  /** The header block uses bare LF line ends. */
  readonly bareLf: boolean;
}

/**
 * Offset just past the empty line that ends the header block within `bytes[from..]`, or -1
 * when it is not there (yet). `from` must be at a line start.
 */
export function findHeaderEnd(bytes: Uint8Array, from = 0): number {
  let lineStart = from;
  for (;;) {
    if (lineStart >= bytes.length) return -1;
    const b0 = bytes[lineStart];
    if (b0 === 10) return lineStart + 1;
    if (b0 === 13 && lineStart + 1 < bytes.length && bytes[lineStart + 1] === 10) return lineStart + 2;
    if (b0 === 13 && lineStart + 1 >= bytes.length) return -1;
    const lf = bytes.indexOf(10, lineStart);
    if (lf < 0) return -1;
    lineStart = lf + 1;
  }
}

/** Offset where the last (possibly incomplete) line of `bytes` starts. */
export function lastLineStart(bytes: Uint8Array): number {
  const lf = bytes.lastIndexOf(10);
  return lf + 1;
}

/** Splits the header block (`bytes[0..end]`, the empty line included or not) into fields. */
export function parseHeaderBlock(block: Uint8Array): RawHeaderField[] {
  const text = bytesToBinary(block);
  const fields: RawHeaderField[] = [];
  let current: string | undefined;
  let pos = 0;
  const push = (): void => {
    if (current === undefined) return;
    const colon = current.indexOf(':');
    let n = colon < 0 ? current.length : colon;
    while (n > 0 && isWsp(current.charCodeAt(n - 1))) n--;
    fields.push({ key: asciiLower(current.slice(0, n)), raw: current });
  };
  while (pos < text.length) {
    let lf = text.indexOf('\n', pos);
    if (lf < 0) lf = text.length;
    const end = lf > pos && text.charCodeAt(lf - 1) === 13 ? lf - 1 : lf;
    const line = text.slice(pos, end);
    pos = lf + 1;
    if (line.length === 0) break;
    if (isWsp(line.charCodeAt(0)) && current !== undefined) current += `\r\n${line}`;
    else {
      push();
      current = line;
    }
  }
  push();
  return fields;
}

export function splitMessage(bytes: Uint8Array): SplitMessage {
  const end = findHeaderEnd(bytes);
  const bodyStart = end < 0 ? bytes.length : end;
  const firstLf = bytes.indexOf(10);
  const bareLf = firstLf >= 0 && (firstLf === 0 || bytes[firstLf - 1] !== 13);
  return { headers: parseHeaderBlock(bytes.subarray(0, bodyStart)), bodyStart, bareLf };
}
