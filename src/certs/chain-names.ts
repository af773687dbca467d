/**
 * Name constraints (RFC 5280 §4.2.1.10) for the name forms mail sees: rfc822Name, dNSName,
 * uniformResourceIdentifier (on the URI's host) and directoryName (on the subject and on every
 * directoryName in subjectAltName, compared as RFC 5280 §7.1 compares names). Other forms are
 * reported as "cannot check" only when the constrained certificate actually carries names of that form.
 */
import { fromLatin1 } from '../internal/bytes.js';
import { Tag, contentOf, cursor, parseDer, type Der } from '../internal/der.js';
import { MailPkiError } from '../errors.js';
import { domainToAscii, lowerCaseDomain, mailboxParts } from '../internal/mailbox.js';
import { OID } from '../internal/oids.js';
import type { Certificate } from './certificate.js';
import { nameValues, prepareForSubtrees, preparedWithin, readName, type Name, type PreparedForSubtrees } from './name.js';

/**
 * Most name-against-subtree comparisons one validateChain call makes. A real chain makes a few
 * dozen; a certificate with thousands of names under a CA with thousands of subtrees is an
 * attack on the validator, and gets CHAIN_NAME_CONSTRAINTS_LIMIT.
 */
export const MAX_NAME_CONSTRAINT_CHECKS = 65536;

/** What is left of MAX_NAME_CONSTRAINT_CHECKS for one validateChain call. */
export interface NameCheckBudget {
  left: number;
}

export interface NameSubtrees {
  rfc822: string[];
  dns: string[];
  /** URI subtrees: a host, or `.domain` for hosts below it. */
  uri: string[];
  directory: Name[];
  /** Forms present that this module does not evaluate ('iPAddress', 'otherName', ...). */
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
  return { rfc822: [], dns: [], uri: [], directory: [], other: [] };
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
        case 0x86:
          into.uri.push(fromLatin1(contentOf(base)));
          break;
        case 0xa4:
          into.directory.push(readName(cursor(base, 'ERR_CERT_MALFORMED', what).next(Tag.SEQUENCE)));
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

/**
 * A mailbox against rfc822Name constraints: a mailbox, a host, or `.domain` for its subdomains. The
 * domains compare as lower-case A-labels (RFC 9549 §6, RFC 9598 §6), so the constraint `example.com`
 * and the SmtpUTF8Mailbox `user@bücher.example` or rfc822Name `user@xn--bcher-kva.example` are judged
 * alike. A mailbox is prepared once for all the subtrees it is compared with (the A-label conversion
 * is linear, but not cheap).
 */
interface PreparedEmail {
  readonly local: string;
  /**
   * Its domain as lower-case A-labels, and as a client may also read it: with UTS #46's compatibility
   * mapping (full-width letters, the ideographic full stops U+3002, U+FF0E, U+FF61 as "."), without the
   * invisible characters it ignores (variation selectors, soft hyphens, U+200B…) and without a
   * trailing root dot. Such a domain is no IDNA2008 name (RFC 9598 §3 wants U-labels), yet it resolves
   * and is answered as the mapped one: it is within a permitted subtree only if every spelling is, and
   * in an excluded subtree if any spelling is.
   */
  readonly hosts: readonly string[];
}

interface PreparedEmailConstraint {
  readonly local?: string;
  readonly host: string;
}

function prepareEmail(email: string): PreparedEmail | undefined {
  // Split as the From binding splits it (mailboxKey): the names it binds are the names judged here.
  const parts = mailboxParts(email);
  if (!parts) return undefined;
  const host = domainToAscii(parts.domain);
  // Lower-cased character by character (lowerCaseDomain): toLowerCase made "ΑΣ-1.gr" the ας-1.gr of another domain.
  const mapped = domainToAscii(
    lowerCaseDomain(parts.domain.replace(/\p{Default_Ignorable_Code_Point}/gu, '').normalize('NFKC'))
      .replace(/[\u3002\uff0e\uff61]/g, '.')
      .replace(/(?<=.)\.$/, ''),
  );
  return { local: parts.local, hosts: mapped === host ? [host] : [host, mapped] };
}

function prepareEmailConstraint(constraint: string): PreparedEmailConstraint {
  const at = constraint.lastIndexOf('@');
  if (at >= 0) return { local: constraint.slice(0, at), host: domainToAscii(constraint.slice(at + 1)) };
  return { host: domainToAscii(constraint) };
}

function preparedEmailMatches(local: string, host: string, c: PreparedEmailConstraint): boolean {
  if (c.local !== undefined) return c.local === local && c.host === host;
  if (c.host.startsWith('.')) return host.endsWith(c.host) && host.length > c.host.length;
  return host === c.host;
}

/** DNS name against a dNSName constraint: the name itself and anything below it (`.x` only below). */
export function dnsMatches(name: string, constraint: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  const c = constraint.toLowerCase().replace(/\.$/, '');
  if (c === '') return true;
  if (c.startsWith('.')) return n.endsWith(c) && n.length > c.length;
  return n === c || n.endsWith(`.${c}`);
}

/**
 * The host of a URI (RFC 3986 authority, without userinfo and port), lower-cased; undefined when
 * the URI has no authority (mailto:, urn:), its host is an IP literal (which a host or domain
 * constraint can never be about), or the authority is one that parsers read differently (a
 * backslash, two `@`, percent-encoding, characters no host name has).
 */
export function uriHost(uri: string): string | undefined {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(uri);
  if (!m) return undefined;
  const authority = m[1]!;
  if (authority.includes('\\') || authority.split('@').length > 2) return undefined;
  const hostPort = authority.slice(authority.indexOf('@') + 1);
  const h = /^([a-z0-9-]+(?:\.[a-z0-9-]+)*)\.?(?::\d*)?$/i.exec(hostPort);
  if (!h || /^[0-9.]+$/.test(h[1]!)) return undefined;
  return h[1]!.toLowerCase();
}

/** URI host against a URI constraint (RFC 5280 §4.2.1.10): `host` exactly, `.domain` for hosts below it only. */
export function uriMatches(host: string, constraint: string): boolean {
  const c = constraint.toLowerCase().replace(/\.$/, '');
  if (c.startsWith('.')) return host.endsWith(c) && host.length > c.length;
  return host === c;
}

export type NameCheck = { ok: true } | { ok: false; kind: 'violation' | 'unsupported' | 'limit'; message: string };

/** The directoryNames in a certificate's subjectAltName, as Names (GeneralNames keeps only their text). */
function sanDirectoryNames(cert: Certificate): Name[] {
  const ext = cert.extensions.get(OID.subjectAltName);
  if (!ext || !cert.subjectAltName?.directoryNames.length) return [];
  const out: Name[] = [];
  const c = cursor(parseDer(ext.value, 'ERR_CERT_MALFORMED', 'invalid subjectAltName'), 'ERR_CERT_MALFORMED', 'invalid subjectAltName');
  while (!c.done) {
    const gn = c.next();
    if (gn.tag === 0xa4) out.push(readName(cursor(gn, 'ERR_CERT_MALFORMED', 'invalid subjectAltName').next(Tag.SEQUENCE)));
  }
  return out;
}

const sanDirectoryCache = new WeakMap<Certificate, Name[]>();
const preparedSubtreeCache = new WeakMap<NameSubtrees, PreparedForSubtrees[]>();

/** A constraint's directoryName subtrees, prepared once per parsed nameConstraints. */
function preparedSubtrees(subtrees: NameSubtrees): PreparedForSubtrees[] {
  let p = preparedSubtreeCache.get(subtrees);
  if (!p) preparedSubtreeCache.set(subtrees, (p = subtrees.directory.map(prepareForSubtrees)));
  return p;
}

/**
 * Checks the names of `cert` against one CA's constraints, spending one unit of `budget` per
 * comparison. A name whose comparison cannot be decided (a value RFC 4518 cannot prepare) is
 * treated as outside a permitted subtree and inside an excluded one.
 */
export function checkNameConstraints(cert: Certificate, nc: NameConstraints, budget: NameCheckBudget): NameCheck {
  if (nc.usesMinMax) return { ok: false, kind: 'unsupported', message: 'nameConstraints use minimum/maximum, which cannot be evaluated' };
  const violation = (message: string): NameCheck => ({ ok: false, kind: 'violation', message });
  const spend = (n: number) => (budget.left -= n) < 0;
  const limit: NameCheck = {
    ok: false,
    kind: 'limit',
    message: `checking name constraints would take more than ${MAX_NAME_CONSTRAINT_CHECKS} comparisons (MAX_NAME_CONSTRAINT_CHECKS)`,
  };

  // rfc822Name constraints cover SmtpUTF8Mailbox names too (RFC 9549 §6, RFC 9598 §6): one address space.
  const emails = [...(cert.subjectAltName?.rfc822Names ?? []), ...(cert.subjectAltName?.smtpUtf8Mailboxes ?? []), ...nameValues(cert.subject, OID.emailAddress)];
  const dns = cert.subjectAltName?.dnsNames ?? [];
  const uris = cert.subjectAltName?.uris ?? [];
  // Each domain and each subtree is converted to A-labels once, not once per comparison.
  const permittedEmail = emails.length > 0 ? nc.permitted.rfc822.map(prepareEmailConstraint) : [];
  const excludedEmail = emails.length > 0 ? nc.excluded.rfc822.map(prepareEmailConstraint) : [];
  for (const e of emails) {
    if (spend(nc.permitted.rfc822.length + nc.excluded.rfc822.length)) return limit;
    const p = prepareEmail(e);
    if (permittedEmail.length > 0 && !(p !== undefined && p.hosts.every((host) => permittedEmail.some((c) => preparedEmailMatches(p.local, host, c)))))
      return violation(`email address ${e} is outside the permitted subtrees`);
    const hit = p === undefined ? -1 : excludedEmail.findIndex((c) => p.hosts.some((host) => preparedEmailMatches(p.local, host, c)));
    if (hit >= 0) return violation(`email address ${e} is in the excluded subtree "${nc.excluded.rfc822[hit]}"`);
  }
  for (const d of dns) {
    if (spend(nc.permitted.dns.length + nc.excluded.dns.length)) return limit;
    if (nc.permitted.dns.length > 0 && !nc.permitted.dns.some((c) => dnsMatches(d, c)))
      return violation(`DNS name ${d} is outside the permitted subtrees`);
    const hit = nc.excluded.dns.find((c) => dnsMatches(d, c));
    if (hit !== undefined) return violation(`DNS name ${d} is in the excluded subtree "${hit}"`);
  }
  if (nc.permitted.uri.length > 0 || nc.excluded.uri.length > 0) {
    for (const u of uris) {
      if (spend(nc.permitted.uri.length + nc.excluded.uri.length)) return limit;
      const host = uriHost(u);
      // A URI without a host name cannot be shown to be inside or outside a host subtree.
      if (host === undefined) return violation(`URI ${u} has no host name to check against the URI constraints`);
      if (nc.permitted.uri.length > 0 && !nc.permitted.uri.some((c) => uriMatches(host, c)))
        return violation(`URI ${u} is outside the permitted subtrees`);
      const hit = nc.excluded.uri.find((c) => uriMatches(host, c));
      if (hit !== undefined) return violation(`URI ${u} is in the excluded subtree "${hit}"`);
    }
  }
  if (nc.permitted.directory.length > 0 || nc.excluded.directory.length > 0) {
    let sanNames = sanDirectoryCache.get(cert);
    if (!sanNames) {
      try {
        sanNames = sanDirectoryNames(cert);
      } catch (e) {
        // parseCertificate read this extension already; failing now means the object was altered.
        if (!(e instanceof MailPkiError)) throw e;
        return violation(`the subjectAltName cannot be read (${e.message})`);
      }
      sanDirectoryCache.set(cert, sanNames);
    }
    const names: [string, Name][] = sanNames.map((n) => ['a subjectAltName directoryName', n]);
    if (cert.subject.rdns.length > 0) names.unshift(['the subject name', cert.subject]);
    // Each name and each subtree is prepared once (RFC 4518), not once per comparison.
    const permitted = preparedSubtrees(nc.permitted);
    const excluded = preparedSubtrees(nc.excluded);
    for (const [what, name] of names) {
      if (spend(permitted.length + excluded.length)) return limit;
      const prepared = prepareForSubtrees(name);
      const within = (base: PreparedForSubtrees) => preparedWithin(prepared, base);
      try {
        if (permitted.length > 0 && !permitted.some(within))
          return violation(`${what} is outside the permitted directoryName subtrees`);
        if (excluded.some(within)) return violation(`${what} is in an excluded directoryName subtree`);
      } catch (e) {
        if (!(e instanceof MailPkiError)) throw e;
        return violation(`${what} cannot be compared with the directoryName subtrees (${e.message})`);
      }
    }
  }
  const san = cert.subjectAltName;
  const carried = new Set<string>();
  if (san?.ipAddresses.length) carried.add('iPAddress');
  if (san?.otherNames.length) carried.add('otherName');
  const unchecked = [...nc.permitted.other, ...nc.excluded.other].filter((f) => carried.has(f));
  if (unchecked.length > 0)
    return { ok: false, kind: 'unsupported', message: `nameConstraints on ${unchecked.join(', ')} names cannot be evaluated` };
  return { ok: true };
}
