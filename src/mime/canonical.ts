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
