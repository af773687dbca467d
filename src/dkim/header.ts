/** The DKIM-Signature header field (RFC 6376 §3.5): parse its tag-list, and write one folded. */
import { fromBase64 } from '../internal/bytes.js';
import type { Canonicalization, CanonicalizationAlgorithm } from './canonicalization/index.js';
import { parseTagList, stripFws, type TagList } from './tags.js';

/** Signing algorithms in a=. rsa-sha1 is read (to be refused by policy, RFC 8301), never written. */
export type DkimAlgorithm = 'rsa-sha256' | 'ed25519-sha256' | 'rsa-sha1';

export interface DkimSignatureTags {
  algorithm: DkimAlgorithm;
  /** b=, decoded. */
  signature: Uint8Array;
  /** b= as written (FWS removed): Authentication-Results quotes its start. */
  signatureBase64: string;
  /** bh=, decoded. */
  bodyHash: Uint8Array;
  canonicalization: Canonicalization;
  headerCanonicalization: CanonicalizationAlgorithm;
  bodyCanonicalization: CanonicalizationAlgorithm;
  /** d=, lower-cased. */
  domain: string;
  /** s=, lower-cased. */
  selector: string;
  /** h=, lower-cased, in order, repeats kept. */
  headers: string[];
  /** i=, as written. */
  identity?: string;
  bodyLength?: number;
  /** t= in seconds since the epoch. */
  timestamp?: number;
  /** x= in seconds since the epoch. */
  expiration?: number;
  tags: TagList;
}

export type ParsedDkimSignature =
  | { ok: true; tags: DkimSignatureTags }
  | { ok: false; reason: string; unsupported?: boolean; domain?: string; selector?: string; algorithm?: string };

const DOMAIN = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;
const DIGITS = /^[0-9]{1,76}$/;

export function isDomainName(s: string): boolean {
  return DOMAIN.test(s);
}

/** Parses the value of a DKIM-Signature field (after the colon). */
export function parseDkimSignature(value: string): ParsedDkimSignature {
  const list = parseTagList(value);
  if (typeof list === 'string') return { ok: false, reason: `signature syntax: ${list}` };
  const get = (n: string): string | undefined => list.get(n)?.value;
  const domain = get('d')?.toLowerCase();
  const selector = get('s')?.toLowerCase();
  const a = get('a')?.toLowerCase();
  const fail = (reason: string, unsupported = false): ParsedDkimSignature => ({
    ok: false,
    reason,
    ...(unsupported ? { unsupported } : {}),
    ...(domain !== undefined ? { domain } : {}),
    ...(selector !== undefined ? { selector } : {}),
    ...(a !== undefined ? { algorithm: a } : {}),
  });
  for (const n of ['v', 'a', 'b', 'bh', 'd', 'h', 's']) if (list.get(n) === undefined) return fail(`signature syntax: no ${n}= tag`);
  if (get('v') !== '1') return fail(`unsupported signature version v=${get('v')}`, true);
  if (a !== 'rsa-sha256' && a !== 'ed25519-sha256' && a !== 'rsa-sha1') return fail(`unsupported algorithm a=${a}`, true);
  if (!domain || !isDomainName(domain)) return fail('signature syntax: bad d= domain');
  if (!selector || !isDomainName(selector)) return fail('signature syntax: bad s= selector');
  const bText = stripFws(get('b')!);
  const signature = fromBase64(bText);
  if (!signature || signature.length === 0) return fail('signature syntax: bad b= value');
  const bodyHash = fromBase64(stripFws(get('bh')!));
  if (!bodyHash || bodyHash.length === 0) return fail('signature syntax: bad bh= value');
  const c = (get('c') ?? 'simple/simple').toLowerCase();
  const [hc, bc = 'simple', extra] = c.split('/');
  if (extra !== undefined || !isCanon(hc) || !isCanon(bc)) return fail(`unsupported canonicalization c=${c}`, true);
  const headers = stripFws(get('h')!).toLowerCase().split(':');
  if (headers.some((h) => h.length === 0 || !/^[\x21-\x39\x3b-\x7e]+$/.test(h))) return fail('signature syntax: bad h= list');
  const q = get('q');
  if (q !== undefined && !stripFws(q).toLowerCase().split(':').some((m) => m === 'dns/txt' || m.startsWith('dns/txt/')))
    return fail(`unsupported query method q=${q}`, true);
  const num = (n: string): number | undefined | null => {
    const v = get(n);
    if (v === undefined) return undefined;
    return DIGITS.test(v) ? Number(v) : null;
  };
  const l = num('l');
  const t = num('t');
  const x = num('x');
  if (l === null) return fail('signature syntax: bad l= value');
  if (t === null) return fail('signature syntax: bad t= value');
  if (x === null) return fail('signature syntax: bad x= value');
  if (t !== undefined && x !== undefined && x < t) return fail('signature syntax: x= is before t=');
  const identity = get('i');
  if (identity !== undefined) {
    const at = identity.lastIndexOf('@');
    const idDomain = identity.slice(at + 1).toLowerCase();
    if (at < 0 || !isDomainName(idDomain)) return fail('signature syntax: bad i= identity');
    if (idDomain !== domain && !idDomain.endsWith(`.${domain}`)) return fail('i= domain is not d= or a subdomain of it');
  }
  return {
    ok: true,
    tags: {
      algorithm: a,
      signature,
      signatureBase64: bText,
      bodyHash,
      canonicalization: `${hc}/${bc}`,
      headerCanonicalization: hc,
      bodyCanonicalization: bc,
      domain,
      selector,
      headers,
      ...(identity !== undefined ? { identity } : {}),
      ...(l !== undefined ? { bodyLength: l } : {}),
      ...(t !== undefined ? { timestamp: t } : {}),
      ...(x !== undefined ? { expiration: x } : {}),
      tags: list,
    },
  };
}

function isCanon(s: string | undefined): s is CanonicalizationAlgorithm {
  return s === 'simple' || s === 'relaxed';
}

/**
 * The field with the b= value removed (RFC 6376 §3.7): what the signature covers. The value's
 * FWS goes with it, as dkimpy and OpenDKIM do; the "b=" itself stays.
 */
export function withoutSignatureValue(field: string, valueOffset: number, tags: TagList): string {
  const b = tags.get('b')!;
  return field.slice(0, valueOffset + b.start) + field.slice(valueOffset + b.end);
}

export interface SignatureTagsToWrite {
  algorithm: 'rsa-sha256' | 'ed25519-sha256';
  canonicalization: Canonicalization;
  domain: string;
  selector: string;
  timestamp?: number | undefined;
  expiration?: number | undefined;
  identity?: string | undefined;
  bodyLength?: number | undefined;
  headers: readonly string[];
  bodyHash: string;
}

const LINE = 76;

/**
 * "DKIM-Signature: v=1; a=…; …; bh=…;\r\n\tb=" folded at 76 columns. The caller signs this text
 * (b= empty), then appends the folded b= value with {@link foldSignatureValue}.
 */
export function formatUnsignedField(t: SignatureTagsToWrite): string {
  const parts = [`v=1`, `a=${t.algorithm}`, `c=${t.canonicalization}`, `d=${t.domain}`, `s=${t.selector}`];
  if (t.timestamp !== undefined) parts.push(`t=${t.timestamp}`);
  if (t.expiration !== undefined) parts.push(`x=${t.expiration}`);
  if (t.identity !== undefined) parts.push(`i=${t.identity}`);
  if (t.bodyLength !== undefined) parts.push(`l=${t.bodyLength}`);
  let out = 'DKIM-Signature:';
  let col = out.length;
  const add = (piece: string, sep: string): void => {
    if (col + sep.length + piece.length > LINE && col > 1) {
      out += `\r\n\t${piece}`;
      col = 1 + piece.length;
    } else {
      out += sep + piece;
      col += sep.length + piece.length;
    }
  };
  for (const p of parts) add(`${p};`, ' ');
  // h= folds between names.
  t.headers.forEach((h, i) => add(i === 0 ? `h=${h}` : `:${h}`, i === 0 ? ' ' : ''));
  out += ';';
  col++;
  add(`bh=${t.bodyHash};`, ' ');
  return `${out}\r\n\tb=`;
}

/** The base64 signature folded to follow formatUnsignedField's "\tb=". */
export function foldSignatureValue(b64: string): string {
  const first = LINE - 3;
  let out = b64.slice(0, first);
  for (let i = first; i < b64.length; i += LINE - 1) out += `\r\n\t${b64.slice(i, i + LINE - 1)}`;
  return out;
}
