/** DKIM key records in DNS (RFC 6376 §3.6.1, RFC 8463 §4.2): write, split for TXT, and parse. */
import { MailPkiError } from '../errors.js';
import { fromBase64, toBase64 } from '../internal/bytes.js';
import { resolveCrypto } from '../internal/crypto.js';
import { readPublicKeyInfo } from '../keys/algorithms.js';
import { exportSpki } from '../keys/spki.js';
import { isDomainName } from './header.js';
import { parseTagList, stripFws } from './tags.js';

export type DkimKeyType = 'rsa' | 'ed25519';

export interface DkimRecordOptions {
  domain: string;
  selector: string;
  /** t=y: the domain is testing DKIM; verifiers must not treat the mail differently. */
  testing?: boolean;
  /** t=s: i= must be exactly d=, not a subdomain. */
  strict?: boolean;
  /** h=: hash algorithms this key may be used with. */
  hashAlgorithms?: readonly 'sha256'[];
  /** n=: notes for people, encoded as dkim-quoted-printable. */
  notes?: string;
  /** TTL of the zone-file line; default 3600. */
  ttl?: number;
  crypto?: Crypto;
}

/** A key record ready to publish. */
export interface DkimRecordText {
  /** Owner name, `selector._domainkey.domain`. */
  name: string;
  /** The TXT value as one string. */
  value: string;
  /** The value cut into character-strings of at most 255 bytes, as TXT needs. */
  strings: string[];
  /** The record as a BIND zone-file line. */
  zoneLine: string;
}

/** A parsed key record. `publicKey` is null when p= is empty: the key is revoked. */
export interface DkimRecord {
  keyType: DkimKeyType;
  /** For RSA the SubjectPublicKeyInfo DER (or an RSAPublicKey as published); for Ed25519 the raw 32 bytes. */
  publicKey: Uint8Array | null;
  /** h=, lower-cased; undefined means any. */
  hashAlgorithms?: string[];
  /** s=, lower-cased; default ['*']. */
  serviceTypes: string[];
  testing: boolean;
  strict: boolean;
  notes?: string;
}

const MAX_STRING = 255;

/** Owner name of a selector's key record. Throws ERR_INVALID_INPUT for a bad domain or selector. */
export function dkimRecordName(domain: string, selector: string): string {
  if (typeof domain !== 'string' || !isDomainName(domain) || !domain.includes('.'))
    throw new MailPkiError('ERR_INVALID_INPUT', `domain: not a domain name: ${JSON.stringify(domain)}`, { details: { field: 'domain' } });
  if (typeof selector !== 'string' || !isDomainName(selector))
    throw new MailPkiError('ERR_INVALID_INPUT', `selector: not a valid selector: ${JSON.stringify(selector)}`, { details: { field: 'selector' } });
  return `${selector.toLowerCase()}._domainkey.${domain.toLowerCase().replace(/\.$/, '')}`;
}

/**
 * The TXT record publishing a public key. RSA keys are published as their SPKI, Ed25519 keys as
 * the raw 32-byte key (RFC 8463).
 *
 * @example
 * const rec = await dkimRecord(keys.publicKey, { domain: 'example.com', selector: '2026a' });
 * // rec.zoneLine: '2026a._domainkey.example.com. 3600 IN TXT ( "v=DKIM1; k=rsa; p=MIIB…" "…" )'
 */
export async function dkimRecord(publicKey: CryptoKey | Uint8Array, options: DkimRecordOptions): Promise<DkimRecordText> {
  const name = dkimRecordName(options?.domain, options?.selector);
  const spki = publicKey instanceof Uint8Array ? publicKey : await exportSpki(publicKey, { crypto: resolveCrypto(options.crypto) });
  const info = readPublicKeyInfo(spki);
  let k: DkimKeyType;
  let p: Uint8Array;
  if (info.kind === 'rsa') {
    k = 'rsa';
    p = info.spki;
  } else if (info.kind === 'ed25519') {
    k = 'ed25519';
    p = info.spki.subarray(info.spki.length - 32);
  } else throw new MailPkiError('ERR_KEY_UNSUPPORTED', 'DKIM keys are RSA or Ed25519 (RFC 6376, RFC 8463); ECDSA has no DKIM algorithm');
  return recordText(name, k, toBase64(p), options);
}

/** A record that revokes the selector: `p=` empty (RFC 6376 §3.6.1). */
export function revokedDkimRecord(options: { domain: string; selector: string; keyType?: DkimKeyType; ttl?: number }): DkimRecordText {
  return recordText(dkimRecordName(options?.domain, options?.selector), options.keyType ?? 'rsa', '', options);
}

function recordText(name: string, k: DkimKeyType, p: string, o: Partial<DkimRecordOptions>): DkimRecordText {
  const tags = ['v=DKIM1', `k=${k}`];
  if (o.hashAlgorithms?.length) {
    if (o.hashAlgorithms.some((h) => h !== 'sha256'))
      throw new MailPkiError('ERR_INVALID_INPUT', 'hashAlgorithms: only sha256 is allowed (RFC 8301)', { details: { field: 'hashAlgorithms' } });
    tags.push(`h=${o.hashAlgorithms.join(':')}`);
  }
  const flags = [...(o.testing ? ['y'] : []), ...(o.strict ? ['s'] : [])];
  if (flags.length) tags.push(`t=${flags.join(':')}`);
  if (o.notes) tags.push(`n=${quotedPrintable(o.notes)}`);
  tags.push(`p=${p}`);
  const value = tags.join('; ');
  const strings: string[] = [];
  for (let i = 0; i < value.length; i += MAX_STRING) strings.push(value.slice(i, i + MAX_STRING));
  if (strings.length === 0) strings.push('');
  const ttl = o.ttl ?? 3600;
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 2147483647)
    throw new MailPkiError('ERR_INVALID_INPUT', 'ttl: must be a whole number of seconds', { details: { field: 'ttl' } });
  const quoted = strings.map((s) => `"${s.replace(/["\\]/g, '\\$&')}"`);
  const zoneLine = `${name}. ${ttl} IN TXT ${quoted.length === 1 ? quoted[0] : `( ${quoted.join(' ')} )`}`;
  return { name, value, strings, zoneLine };
}

/** dkim-quoted-printable (RFC 6376 §2.11): everything but plain printable ASCII as =XX. */
function quotedPrintable(text: string): string {
  let out = '';
  for (const b of new TextEncoder().encode(text)) {
    out += b > 0x20 && b < 0x7f && b !== 0x3b && b !== 0x3d ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Parses a key record (the TXT strings already joined). Unknown tags are ignored; a syntax error
 * throws ERR_INVALID_INPUT, an unknown k= ERR_KEY_UNSUPPORTED, bad p= base64 ERR_KEY_MALFORMED.
 * An empty p= is a revoked key (`publicKey: null`), not an error.
 */
export function parseDkimRecord(txt: string): DkimRecord {
  if (typeof txt !== 'string') throw new MailPkiError('ERR_INVALID_INPUT', 'parseDkimRecord: expected the TXT value as a string', { details: { field: 'txt' } });
  const list = parseTagList(txt);
  if (typeof list === 'string') throw new MailPkiError('ERR_INVALID_INPUT', `DKIM key record syntax: ${list}`);
  const v = list.get('v');
  if (v !== undefined) {
    if (v.value !== 'DKIM1') throw new MailPkiError('ERR_INVALID_INPUT', `DKIM key record: v=${v.value} is not DKIM1`);
    if ([...list.values()][0] !== v) throw new MailPkiError('ERR_INVALID_INPUT', 'DKIM key record: v= must be the first tag');
  }
  const k = (list.get('k')?.value ?? 'rsa').toLowerCase();
  if (k !== 'rsa' && k !== 'ed25519') throw new MailPkiError('ERR_KEY_UNSUPPORTED', `DKIM key record: unsupported key type k=${k}`);
  const p = list.get('p');
  if (p === undefined) throw new MailPkiError('ERR_INVALID_INPUT', 'DKIM key record: no p= tag');
  const pText = stripFws(p.value);
  let publicKey: Uint8Array | null = null;
  if (pText.length > 0) {
    const bytes = fromBase64(pText);
    if (!bytes || bytes.length === 0) throw new MailPkiError('ERR_KEY_MALFORMED', 'DKIM key record: p= is not base64');
    if (k === 'ed25519' && bytes.length !== 32) throw new MailPkiError('ERR_KEY_MALFORMED', 'DKIM key record: an Ed25519 p= must be 32 bytes');
    publicKey = bytes;
  }
  const list_ = (tag: string): string[] | undefined => {
    const t = list.get(tag);
    return t === undefined ? undefined : stripFws(t.value).toLowerCase().split(':').filter(Boolean);
  };
  const flags = list_('t') ?? [];
  const notes = list.get('n')?.value;
  const hashAlgorithms = list_('h');
  return {
    keyType: k,
    publicKey,
    ...(hashAlgorithms ? { hashAlgorithms } : {}),
    serviceTypes: list_('s') ?? ['*'],
    testing: flags.includes('y'),
    strict: flags.includes('s'),
    ...(notes !== undefined ? { notes } : {}),
  };
}
