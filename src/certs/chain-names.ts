/**
 * Name constraints (RFC 5280 §4.2.1.10) as a mail client needs them: rfc822Name, dNSName and
 * directoryName subtrees are checked; other forms are reported as "cannot check" only when the
 * constrained certificate actually carries names of that form.
 */
import { fromLatin1 } from '../internal/bytes.js';
import { Tag, contentOf, cursor, parseDer, type Der } from '../internal/der.js';
import { OID } from '../internal/oids.js';
import type { Certificate } from './certificate.js';
import { readName, nameValues, type AttributeTypeAndValue } from './name.js';

export interface NameSubtrees {
  rfc822: string[];
  dns: string[];
  directory: AttributeTypeAndValue[][][];
  /** Forms present that this module does not evaluate ('uniformResourceIdentifier', 'iPAddress', ...). */
  other: string[];
}

export interface NameConstraints {
  permitted: NameSubtrees;
  excluded: NameSubtrees;
  /** A GeneralSubtree used minimum/maximum, which RFC 5280 forbids and we do not evaluate. */
  usesMinMax: boolean;
}

const FORM_NAMES: Record<number, string> = {
  0xa0: 'otherName',
  0xa3: 'x400Address',
  0xa5: 'ediPartyName',
  0x86: 'uniformResourceIdentifier',
  0x87: 'iPAddress',
  0x88: 'registeredID',
};

const parsed = new WeakMap<Certificate, NameConstraints | 'malformed'>();

/** The certificate's nameConstraints, parsed once; undefined when absent, 'malformed' when unreadable. */
export function nameConstraintsOf(cert: Certificate): NameConstraints | 'malformed' | undefined {
  const ext = cert.extensions.get(OID.nameConstraints);
  if (!ext) return undefined;
  let nc = parsed.get(cert);
  if (nc === undefined) {
    try {
      nc = readNameConstraints(ext.value);
    } catch {
      // The reason is reported as a chain problem; the parse error itself has nothing more to say.
      nc = 'malformed';
    }
    parsed.set(cert, nc);
  }
  return nc;
}

function emptySubtrees(): NameSubtrees {
  return { rfc822: [], dns: [], directory: [], other: [] };
}

export function readNameConstraints(value: Uint8Array): NameConstraints {
  const what = 'invalid nameConstraints';
  const c = cursor(parseDer(value, 'ERR_CERT_MALFORMED', what), 'ERR_CERT_MALFORMED', what);
  const out: NameConstraints = { permitted: emptySubtrees(), excluded: emptySubtrees(), usesMinMax: false };
  const read = (node: Der | undefined, into: NameSubtrees) => {
    if (!node) return;
    const subtrees = cursor(node, 'ERR_CERT_MALFORMED', what);
    while (!subtrees.done) {
      const st = cursor(subtrees.next(Tag.SEQUENCE), 'ERR_CERT_MALFORMED', what);
      const base = st.next();
      if (!st.done) out.usesMinMax = true;
      switch (base.tag) {
        case 0x81:
          into.rfc822.push(fromLatin1(contentOf(base)));
          break;
        case 0x82:
          into.dns.push(fromLatin1(contentOf(base)));
          break;
        case 0xa4:
          into.directory.push(readName(cursor(base, 'ERR_CERT_MALFORMED', what).next(Tag.SEQUENCE)).rdns);
          break;
        default: {
          const form = FORM_NAMES[base.tag] ?? `tag 0x${base.tag.toString(16)}`;
          if (!into.other.includes(form)) into.other.push(form);
        }
      }
    }
  };
  read(c.optional(0xa0), out.permitted);
  read(c.optional(0xa1), out.excluded);
  c.end();
  return out;
}

/** Mailbox against an rfc822Name constraint: a mailbox, a host, or `.domain` for its subdomains. */
export function emailMatches(email: string, constraint: string): boolean {
  const at = email.lastIndexOf('@');
  if (at < 0) return false;
  const local = email.slice(0, at);
  const host = email.slice(at + 1).toLowerCase();
  const cAt = constraint.lastIndexOf('@');
  if (cAt >= 0) return constraint.slice(0, cAt) === local && constraint.slice(cAt + 1).toLowerCase() === host;
  const c = constraint.toLowerCase();
  if (c.startsWith('.')) return host.endsWith(c) && host.length > c.length;
  return host === c;
}

/** DNS name against a dNSName constraint: the name itself and anything below it (`.x` only below). */
export function dnsMatches(name: string, constraint: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  const c = constraint.toLowerCase().replace(/\.$/, '');
  if (c === '') return true;
  if (c.startsWith('.')) return n.endsWith(c) && n.length > c.length;
  return n === c || n.endsWith(`.${c}`);
}

const normalise = (v: string) => v.trim().replace(/\s+/g, ' ').toLowerCase();

/** Subject DN within a directoryName subtree: the subtree's RDNs are a prefix of the subject's. */
export function directoryMatches(subject: readonly AttributeTypeAndValue[][], base: readonly AttributeTypeAndValue[][]): boolean {
  if (base.length > subject.length) return false;
  return base.every((rdn, i) => {
    const s = subject[i]!;
    return rdn.length === s.length && rdn.every((a) => s.some((b) => b.type === a.type && normalise(b.value) === normalise(a.value)));
  });
}

export type NameCheck = { ok: true } | { ok: false; unsupported: boolean; message: string };

/** Checks the names of `cert` against one CA's constraints. */
export function checkNameConstraints(cert: Certificate, nc: NameConstraints): NameCheck {
  if (nc.usesMinMax) return { ok: false, unsupported: true, message: 'nameConstraints use minimum/maximum, which cannot be evaluated' };
  const emails = [...(cert.subjectAltName?.rfc822Names ?? []), ...nameValues(cert.subject, OID.emailAddress)];
  const dns = cert.subjectAltName?.dnsNames ?? [];
  for (const e of emails) {
    if (nc.permitted.rfc822.length > 0 && !nc.permitted.rfc822.some((c) => emailMatches(e, c)))
      return { ok: false, unsupported: false, message: `email address ${e} is outside the permitted subtrees` };
    const hit = nc.excluded.rfc822.find((c) => emailMatches(e, c));
    if (hit !== undefined) return { ok: false, unsupported: false, message: `email address ${e} is in the excluded subtree "${hit}"` };
  }
  for (const d of dns) {
    if (nc.permitted.dns.length > 0 && !nc.permitted.dns.some((c) => dnsMatches(d, c)))
      return { ok: false, unsupported: false, message: `DNS name ${d} is outside the permitted subtrees` };
    const hit = nc.excluded.dns.find((c) => dnsMatches(d, c));
    if (hit !== undefined) return { ok: false, unsupported: false, message: `DNS name ${d} is in the excluded subtree "${hit}"` };
  }
  const subject = cert.subject.rdns;
  if (subject.length > 0) {
    if (nc.permitted.directory.length > 0 && !nc.permitted.directory.some((b) => directoryMatches(subject, b)))
      return { ok: false, unsupported: false, message: 'the subject name is outside the permitted directoryName subtrees' };
    if (nc.excluded.directory.some((b) => directoryMatches(subject, b)))
      return { ok: false, unsupported: false, message: 'the subject name is in an excluded directoryName subtree' };
  }
  const san = cert.subjectAltName;
  const carried = new Set<string>();
  if (san?.uris.length) carried.add('uniformResourceIdentifier');
  if (san?.ipAddresses.length) carried.add('iPAddress');
  if (san?.otherNames.length) carried.add('otherName');
  const unchecked = [...nc.permitted.other, ...nc.excluded.other].filter((f) => carried.has(f));
  if (unchecked.length > 0)
    return { ok: false, unsupported: true, message: `nameConstraints on ${unchecked.join(', ')} names cannot be evaluated` };
  return { ok: true };
}
