/**
 * A small, tolerant BER-to-DER normaliser for the CMS container only.
 *
 * Why: OpenSSL writes definite-length DER, but streaming signers (OpenSSL `-stream`, Java,
 * Outlook) write indefinite lengths and chunked (constructed) OCTET STRINGs. Our DER reader
 * refuses both, on purpose. This turns such input into definite lengths, minimal length
 * octets and primitive OCTET STRINGs, and changes nothing else (SET order, string types and
 * the content of primitives are kept). The signed attributes are hashed as the signer sent
 * them after this pass, which is DER whenever the signer followed RFC 5652 §5.4.
 *
 * Bounded: nesting depth, input and output size; linear time (every TLV consumes ≥ 2 bytes).
 */
import { MailPkiError } from '../errors.js';

export interface BerLimits {
  maxBytes: number;
  maxDepth: number;
  /** Most TLVs decoded; default MAX_BER_NODES. */
  maxNodes?: number;
}

/**
 * Most TLVs the normaliser decodes (each becomes an object): 64 MiB of two-byte chunks would otherwise be
 * 32 million objects. OpenSSL's -stream writes ~1 KiB chunks, and a SignedData with a 100,000-entry CRL has
 * about 500,000 TLVs.
 */
export const MAX_BER_NODES = 1 << 20;

interface Node {
  tag: number;
  /** Content length in the output. */
  len: number;
  /** Primitive content, possibly several chunks of a constructed OCTET STRING. */
  chunks?: Uint8Array[];
  kids?: Node[];
}

const WHAT = 'invalid CMS (BER)';

function bad(detail: string): never {
  throw new MailPkiError('ERR_CMS_MALFORMED', `${WHAT}: ${detail}`);
}

function lengthSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x1000000 ? 4 : 5;
}

/**
 * DER-ish bytes for a BER input. Returns `input` itself (same object) when nothing had to change,
 * so a caller can tell "not BER, just malformed" apart.
 */
/** Deepest BER nesting a caller may allow (CmsLimits.maxDepth): the normaliser recurses once per level. */
export const MAX_BER_DEPTH = 256;

export function normaliseBer(input: Uint8Array, limits: BerLimits): Uint8Array {
  if (input.length > limits.maxBytes)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `CMS input is larger than ${limits.maxBytes} bytes`);
  let changed = false;
  let nodes = 0;
  const maxNodes = limits.maxNodes ?? MAX_BER_NODES;

  const decode = (pos: number, limit: number, depth: number): { node: Node; end: number } => {
    if (++nodes > maxNodes)
      throw new MailPkiError('ERR_INPUT_TOO_LARGE', `CMS input has more than ${maxNodes} BER elements`, { details: { limit: maxNodes } });
    if (depth > limits.maxDepth)
      throw new MailPkiError('ERR_NESTING_TOO_DEEP', `CMS input nests deeper than ${limits.maxDepth} levels`);
    if (pos >= limit) bad('unexpected end of data');
    const tag = input[pos]!;
    if ((tag & 0x1f) === 0x1f) bad('high tag numbers are not supported');
    if (tag === 0) bad('unexpected end-of-contents');
    if (pos + 1 >= limit) bad('truncated length');
    let p = pos + 2;
    let len = input[pos + 1]!;
    let indefinite = false;
    if (len === 0x80) {
      indefinite = true;
      changed = true;
    } else if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0x7f) bad('reserved length form');
      if (p + n > limit) bad('truncated length');
      len = 0;
      for (let i = 0; i < n; i++) {
        len = len * 256 + input[p + i]!;
        if (len > limit) bad('content runs past the end of the data');
      }
      if (n !== lengthSize(len) - 1) changed = true;
      p += n;
    }
    const constructed = (tag & 0x20) !== 0;
    if (!constructed) {
      if (indefinite) bad('indefinite length on a primitive value');
      if (p + len > limit) bad('content runs past the end of the data');
      return { node: { tag, len, chunks: [input.subarray(p, p + len)] }, end: p + len };
    }
    const contentEnd = indefinite ? limit : p + len;
    if (contentEnd > limit) bad('content runs past the end of the data');
    const kids: Node[] = [];
    for (;;) {
      if (indefinite) {
        if (p + 1 < limit && input[p] === 0 && input[p + 1] === 0) {
          p += 2;
          break;
        }
        if (p >= limit) bad('missing end-of-contents');
      } else if (p >= contentEnd) break;
      const child = decode(p, contentEnd, depth + 1);
      kids.push(child.node);
      p = child.end;
    }
    if (tag === 0x24) {
      // Constructed OCTET STRING: DER wants one primitive with the chunks concatenated.
      changed = true;
      const chunks: Uint8Array[] = [];
      let total = 0;
      for (const k of kids) {
        if (k.tag !== 0x04) bad('a constructed OCTET STRING holds something other than OCTET STRINGs');
        chunks.push(...k.chunks!);
        total += k.len;
      }
      return { node: { tag: 0x04, len: total, chunks }, end: p };
    }
    let total = 0;
    for (const k of kids) total += 1 + lengthSize(k.len) + k.len;
    return { node: { tag, len: total, kids }, end: p };
  };

  const { node, end } = decode(0, input.length, 0);
  if (end !== input.length) bad('trailing bytes after the structure');
  if (!changed) return input;
  const size = 1 + lengthSize(node.len) + node.len;
  if (size > limits.maxBytes) throw new MailPkiError('ERR_INPUT_TOO_LARGE', `normalised CMS is larger than ${limits.maxBytes} bytes`);
  const out = new Uint8Array(size);
  const write = (n: Node, at: number): number => {
    out[at++] = n.tag;
    const l = n.len;
    if (l < 0x80) out[at++] = l;
    else {
      const k = lengthSize(l) - 1;
      out[at++] = 0x80 | k;
      for (let i = k - 1; i >= 0; i--) out[at++] = Math.floor(l / 256 ** i) & 0xff;
    }
    if (n.chunks) {
      for (const c of n.chunks) {
        out.set(c, at);
        at += c.length;
      }
    } else for (const k of n.kids!) at = write(k, at);
    return at;
  };
  write(node, 0);
  return out;
}
