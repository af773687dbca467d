/** Line-end canonicalisation: S/MIME and DKIM sign CRLF text, but files on disk often have bare LF. */

const CR = 0x0d;
const LF = 0x0a;

/**
 * A new array with every line end as CRLF: bare LF and bare CR each become CRLF, CRLF stays.
 * Idempotent. Offsets reported by {@link parseMessage} refer to this form.
 */
export function canonicalizeLineEndings(bytes: Uint8Array): Uint8Array {
  const missing = countMissingBytes(bytes);
  // Mail that is already canonical (the usual case) needs only a native copy.
  if (missing === 0) return bytes.slice();
  const out = new Uint8Array(bytes.length + missing);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === CR) {
      out[n++] = CR;
      out[n++] = LF;
      if (bytes[i + 1] === LF) i++;
    } else if (b === LF) {
      out[n++] = CR;
      out[n++] = LF;
    } else {
      out[n++] = b;
    }
  }
  return out;
}

/** True when every CR is followed by LF and every LF preceded by CR. */
export function isCanonical(bytes: Uint8Array): boolean {
  return countMissingBytes(bytes) === 0;
}

// Sizing the output first keeps canonicalisation to one allocation even for 64 MiB messages.
function countMissingBytes(bytes: Uint8Array): number {
  let missing = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === CR && bytes[i + 1] !== LF) missing++;
    else if (b === LF && (i === 0 || bytes[i - 1] !== CR)) missing++;
  }
  return missing;
}

const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;

/**
 * The message with its header block ended where an MTA ends it: at the first line that is neither a header field (a
 * name of printable ASCII other than ':', optional SP/HT, then ':') nor, after one, a continuation (SP or HT first),
 * or that holds a NUL (Postfix would keep the line only up to it: ending the header before it is what it delivers). An
 * empty line is put before that line, which starts the body — Postfix's cleanup does exactly this (mime_state.c,
 * "garbage in primary header": is_header_buf, then one blank line), and a client reads the header no further than the
 * empty line. The same array when the header block already ends with its empty line (or the message is all header).
 * `bytes` must be canonical (CRLF line ends).
 */
export function endHeaderAtNonField(bytes: Uint8Array): Uint8Array {
  let line = 0;
  // The next NUL at or after the line (found once per NUL: linear however many lines).
  let nextNul = bytes.indexOf(0);
  while (line < bytes.length) {
    if (bytes[line] === CR && bytes[line + 1] === LF) return bytes;
    const lf = bytes.indexOf(LF, line);
    if (nextNul >= 0 && nextNul < line) nextNul = bytes.indexOf(0, line);
    // A NUL anywhere in the line: Postfix keeps a header line only up to it (it appends the line as a C string), so
    // "From: cfo@example.com\0<mallory@…>" is delivered as "From: cfo@example.com" — the line is no field here.
    const nul = nextNul >= 0 && (lf < 0 || nextNul < lf);
    if (nul || (!(line > 0 && (bytes[line] === SP || bytes[line] === HT)) && !isFieldStart(bytes, line))) {
      const out = new Uint8Array(bytes.length + 2);
      out.set(bytes.subarray(0, line));
      out[line] = CR;
      out[line + 1] = LF;
      out.set(bytes.subarray(line), line + 2);
      return out;
    }
    if (lf < 0) return bytes;
    line = lf + 1;
  }
  return bytes;
}

/**
 * Whether a header line starts a header field as an MTA reads it — Postfix's is_header_buf: a name of printable ASCII
 * other than ':', optional SP/HT, then ':', and no NUL in the field (see endHeaderAtNonField). A line that does not (no colon, a space or an 8-bit or control byte in the
 * name, a first line starting with white space) ends the header block for the MTA: it and all after it are the body.
 * `line`: one char per byte (a character past U+00FF is no name character either). The rule of endHeaderAtNonField,
 * for readers that hold the header as text (DKIM verification).
 */
export function isHeaderFieldLine(line: string): boolean {
  if (line.includes('\0')) return false;
  // isFieldStart on the text itself (a copy of each field as bytes was most of a large header's cost).
  const end = Math.min(line.length, MAX_FIELD_NAME_OCTETS);
  let name = 0;
  for (let i = 0; i < end; i++) {
    const c = line.charCodeAt(i);
    if (c === COLON) return name > 0;
    if (c === SP || c === HT) {
      if (name === 0) return false;
      for (i++; i < end && (line.charCodeAt(i) === SP || line.charCodeAt(i) === HT); i++);
      return i < end && line.charCodeAt(i) === COLON;
    }
    if (c < 0x21 || c > 0x7e) return false;
    name++;
  }
  return false;
}

/**
 * Octets of a line within which its colon must come for the line to start a field. Postfix reads a line longer than
 * its line_length_limit (2048 by default) in pieces and looks for "name:" in the first piece only: a longer name is no
 * field to it, and the line starts the body. 998, the longest line RFC 5322 allows, is below any such limit, so
 * the header never ends later here than there (ending it earlier is safe: the empty line put in is what the MTA reads).
 */
const MAX_FIELD_NAME_OCTETS = 998;

/** Postfix's is_header_buf: a field name (printable ASCII but ':'), optional SP/HT, ':' — within MAX_FIELD_NAME_OCTETS. */
function isFieldStart(bytes: Uint8Array, at: number): boolean {
  let name = 0;
  const end = Math.min(bytes.length, at + MAX_FIELD_NAME_OCTETS);
  for (let i = at; i < end; i++) {
    const b = bytes[i]!;
    if (b === COLON) return name > 0;
    if (b === SP || b === HT) {
      if (name === 0) return false;
      // White space between the name and ':' (RFC 5322 obsolete syntax), and nothing else.
      for (i++; i < end && (bytes[i] === SP || bytes[i] === HT); i++);
      return i < end && bytes[i] === COLON;
    }
    if (b < 0x21 || b > 0x7e) return false;
    name++;
  }
  return false;
}
