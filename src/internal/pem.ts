/** PEM (RFC 7468) encoding and strict decoding. */
import { MailPkiError } from '../errors.js';
import { fromBase64, toBase64 } from './bytes.js';

export interface PemBlock {
  label: string;
  der: Uint8Array;
}

/** Largest PEM text accepted (a CA bundle of a few hundred certificates fits). */
export const MAX_PEM_BYTES = 16 * 1024 * 1024;

export function encodePem(label: string, der: Uint8Array): string {
  const b64 = toBase64(der);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/** All PEM blocks in `text`, in order; text between blocks is ignored (as OpenSSL does). */
export function decodePemBlocks(text: string): PemBlock[] {
  if (text.length > MAX_PEM_BYTES)
    throw new MailPkiError('ERR_INPUT_TOO_LARGE', `PEM input is larger than ${MAX_PEM_BYTES} bytes`);
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const [, begin, body, end] = m;
    if (begin !== end) throw new MailPkiError('ERR_PEM_MALFORMED', `PEM block "BEGIN ${begin}" ends with "END ${end}"`);
    // RFC 1421 encapsulated headers (Proc-Type/DEK-Info) mean legacy OpenSSL encryption.
    if (/^[A-Za-z-]+:/m.test(body!))
      throw new MailPkiError(
        'ERR_ALGORITHM_UNSUPPORTED',
        `PEM block "${begin}" uses legacy header encryption; convert it to PKCS#8 (openssl pkcs8 -topk8)`,
      );
    const der = fromBase64(body!);
    if (!der || der.length === 0) throw new MailPkiError('ERR_PEM_MALFORMED', `PEM block "${begin}" has invalid base64`);
    out.push({ label: begin!, der });
  }
  return out;
}

/** The single block with one of `labels`; errors name what was expected. */
export function decodePem(text: string, labels: readonly string[]): PemBlock {
  const blocks = decodePemBlocks(text).filter((b) => labels.includes(b.label));
  if (blocks.length === 0)
    throw new MailPkiError('ERR_PEM_MALFORMED', `no PEM block labelled ${labels.map((l) => `"${l}"`).join(' or ')} found`);
  return blocks[0]!;
}

export function looksLikePem(input: Uint8Array | string): boolean {
  const head = typeof input === 'string' ? input.slice(0, 4096) : new TextDecoder('latin1').decode(input.subarray(0, 4096));
  return head.includes('-----BEGIN ');
}
