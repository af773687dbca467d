/**
 * Internationalised domain names in the From ↔ certificate binding (RFC 9598 §5, RFC 8550 §3): an
 * rfc822Name holds A-labels (`user@xn--bcher-kva.example`), an SmtpUTF8Mailbox or a From may hold
 * U-labels (`user@bücher.example`); the domain compares case-insensitively, the local part exactly,
 * and a look-alike domain (a Cyrillic "с", a full-width "ｂ") is another mailbox.
 * Before the fix the two spellings of one mailbox never matched (SMIME_FROM_NOT_SIGNER). The
 * Punycode itself is tested in test/internal/mailbox.test.ts.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keySigner, randomSerial, signCertificate } from '../../src/certs/builder.js';
import { certificateMailboxes, parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { encodeName } from '../../src/certs/name.js';
import { implicit, oid, seq, setOf, tlv, utf8String } from '../../src/internal/der.js';
import { OID } from '../../src/internal/oids.js';
import { defaultSignatureAlgorithm } from '../../src/keys/algorithms.js';
import { domainToAscii, mailboxKey } from '../../src/internal/mailbox.js';
import { exportSpki, generateKeyPair, importPrivateKey } from '../../src/keys/index.js';
import { signData } from '../../src/cms/index.js';
import { verifyMessage } from '../../src/smime/index.js';
import { fromDisplayWarnings, sameMailbox } from '../../src/smime/sender.js';
import { parseMessage } from '../../src/mime/index.js';
import { describeWithPeers, run, tempDir } from '../helpers/peers.js';
import { multipartSigned, utf8 } from './fixtures.js';

describe('sameMailbox across A-labels and U-labels', () => {
  it.each([
    ['user@bücher.example', 'user@xn--bcher-kva.example', true],
    ['user@BÜCHER.EXAMPLE', 'user@xn--bcher-kva.example', true],
    ['user@bücher.example', 'user@XN--BCHER-KVA.example', true],
    ['user@bu\u0308cher.example', 'user@bücher.example', true],
    ['user@bü\u0441her.example', 'user@xn--bcher-kva.example', false],
    ['user@\uFF42ücher.example', 'user@xn--bcher-kva.example', false],
    ['User@bücher.example', 'user@xn--bcher-kva.example', false],
    ['user@bücher.example.evil.test', 'user@xn--bcher-kva.example', false],
  ])('%s vs %s → %s', (a, b, same) => {
    expect(sameMailbox(a, b)).toBe(same);
    expect(sameMailbox(b, a)).toBe(same);
  });

  it('keys keep the local part exactly (RFC 5321 §2.4), also a non-ASCII one (RFC 6531)', () => {
    expect(mailboxKey('Jörg@Bücher.Example')).toBe('Jörg@xn--bcher-kva.example');
  });
});

describeWithPeers('IDN certificates made by OpenSSL: the From binding', ['openssl'], () => {
  const t = tempDir();
  let ca: Certificate;
  const leaves: Record<'alabel' | 'smtputf8', { certificate: Certificate; key: CryptoKey }> = {} as never;
  beforeAll(async () => {
    run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', t.path('ca.key'), '-out', t.path('ca.pem'), '-days', '30', '-subj', '/CN=IDN Test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    ca = parseCertificate(run('cat', [t.path('ca.pem')]));
    // In a section, so that the value is not split at the comma, and FORMAT:UTF8 so that OpenSSL does not read the UTF-8 as Latin-1.
    const sans = { alabel: 'email:user@xn--bcher-kva.example', smtputf8: '@alt\n[alt]\notherName.1=1.3.6.1.5.5.7.8.9;FORMAT:UTF8,UTF8:user@bücher.example' } as const;
    for (const [name, san] of Object.entries(sans) as [keyof typeof sans, string][]) {
      run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', t.path(`${name}.key`), '-out', t.path(`${name}.csr`), '-subj', `/CN=${name}`]);
      writeFileSync(t.path(`${name}.ext`), `keyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\nbasicConstraints=critical,CA:FALSE\nsubjectAltName=${san}\n`);
      run('openssl', ['x509', '-req', '-in', t.path(`${name}.csr`), '-CA', t.path('ca.pem'), '-CAkey', t.path('ca.key'), '-CAcreateserial', '-out', t.path(`${name}.pem`), '-days', '10', '-extfile', t.path(`${name}.ext`)]);
      leaves[name] = { certificate: parseCertificate(run('cat', [t.path(`${name}.pem`)])), key: await importPrivateKey(run('cat', [t.path(`${name}.key`)])) };
    }
  });
  afterAll(() => t.cleanup());

  it('reads the SANs as written: the rfc822Name in A-labels, the SmtpUTF8Mailbox in U-labels', () => {
    expect(certificateMailboxes(leaves.alabel.certificate).emails).toEqual(['user@xn--bcher-kva.example']);
    expect(certificateMailboxes(leaves.smtputf8.certificate).emails).toEqual(['user@bücher.example']);
  });

  // A U-label From is UTF-8 in the header (RFC 6532), which signMessage does not write: signed by hand.
  const signed = async (which: keyof typeof leaves, from: string) => {
    const { key, certificate } = leaves[which];
    const entity = 'Content-Type: text/plain; charset=us-ascii\r\n\r\nHello.\r\n';
    const cms = await signData(utf8(entity), { signers: [{ key, certificate }], certificates: [certificate.der], detached: true });
    const message = multipartSigned([`From: ${from}`, 'To: approvers@example.com', 'Subject: IDN', 'Date: Sun, 15 Mar 2026 12:00:00 +0000'], entity, cms);
    return verifyMessage(utf8(message), { trustAnchors: [ca] });
  };

  it.each([
    ['alabel', 'user@bücher.example'],
    ['alabel', 'User Name <user@BÜCHER.example>'],
    ['alabel', 'user@xn--bcher-kva.example'],
    ['smtputf8', 'user@xn--bcher-kva.example'],
    ['smtputf8', 'user@XN--BCHER-KVA.EXAMPLE'],
    ['smtputf8', 'user@bücher.example'],
  ] as const)('a %s certificate binds From %s', async (which, from) => {
    const v = await signed(which, from);
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.signers[0]!.matchesFrom).toBe(true);
  });

  it.each([
    ['alabel', 'user@bü\u0441her.example', 'a Cyrillic с'],
    ['smtputf8', 'user@bü\u0441her.example', 'a Cyrillic с'],
    ['alabel', 'user@\uFF42ücher.example', 'a full-width ｂ'],
    ['smtputf8', 'User@bücher.example', 'another local part'],
  ] as const)('a %s certificate does not bind From %s (%s)', async (which, from, _why) => {
    const v = await signed(which, from);
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toContain('SMIME_FROM_NOT_SIGNER');
  });
});

/**
 * A message from `from` signed with a self-signed certificate (its own trust anchor) whose SAN is
 * `san` (the GeneralNames' contents), with a subject emailAddress if given, and its verdict.
 */
async function selfSignedMessage(san: Uint8Array[], from: string, subjectEmail?: string, entity = 'Content-Type: text/plain; charset=us-ascii\r\n\r\nHello.\r\n') {
  const keys = await generateKeyPair('ec-p256', { extractable: false });
  // A non-ASCII emailAddress cannot be made with encodeName (it is an IA5String): written as a UTF8String, as a careless CA would.
  const name =
    subjectEmail && /[^\x00-\x7f]/.test(subjectEmail)
      ? seq(setOf(seq(oid(OID.emailAddress), utf8String(subjectEmail))))
      : encodeName([{ type: 'CN', value: 'self-signed' }, ...(subjectEmail ? [{ type: 'emailAddress' as const, value: subjectEmail }] : [])]);
  const der = await signCertificate(
    {
      serial: randomSerial(crypto),
      issuer: name,
      subject: name,
      notBefore: new Date('2026-01-01T00:00:00Z'),
      notAfter: new Date('2027-01-01T00:00:00Z'),
      spki: await exportSpki(keys.publicKey),
      extensions: [{ oid: OID.subjectAltName, critical: false, value: seq(...san) }],
    },
    keySigner(keys.privateKey, defaultSignatureAlgorithm(keys.privateKey)),
  );
  const certificate = parseCertificate(der);
  const cms = await signData(utf8(entity), { signers: [{ key: keys.privateKey, certificate }], certificates: [certificate.der], detached: true });
  const message = multipartSigned([`From: ${from}`, 'To: approvers@example.com', 'Subject: IDN', 'Date: Sun, 15 Mar 2026 12:00:00 +0000'], entity, cms);
  const t0 = performance.now();
  const v = await verifyMessage(utf8(message), { trustAnchors: [certificate] });
  return { certificate, v, ms: performance.now() - t0 };
}
const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

describe('the From ↔ certificate binding of a long IDN From', () => {
  it('costs one A-label conversion of the From, not one per certificate mailbox (a self-signed certificate with 1,000 rfc822Names and a 15 kB IDN From took ~2.6 s, ~20 s with the 8,000 a 64 kB certificate holds)', async () => {
    // Anyone can sign with a certificate of their own; the binding is computed before trust is judged.
    // 80 labels of 63 CJK characters: ~15 kB of UTF-8, within the 16 kB a From may have.
    const label = Array.from({ length: 63 }, (_, i) => String.fromCodePoint(0x4e00 + i * 7)).join('');
    const from = `u0@${Array(80).fill(label).join('.')}.example`;
    const { v, ms } = await selfSignedMessage(Array.from({ length: 1000 }, (_, i) => implicit(1, latin1(`u${i}@x.example`))), from);
    expect(ms).toBeLessThan(1500);
    expect(v.signers[0]!.matchesFrom).toBe(false);
    expect(v.problems.map((p) => p.code)).toContain('SMIME_FROM_NOT_SIGNER');
  });
});

describe('an rfc822Name that is not ASCII', () => {
  // An rfc822Name is an IA5String (RFC 5280 §4.2.1.6) and holds A-labels (RFC 9598 §3): the byte 0xFC
  // is no "ü". Read as Latin-1 it became "user@bücher.example", which the A-label key then also bound to
  // the From user@xn--bcher-kva.example; a CA that wrote such a name vouched for no mailbox a client shows.
  const signedBy = (san: Uint8Array, from: string, subjectEmail?: string) => selfSignedMessage([implicit(1, san)], from, subjectEmail);

  it.each(['user@xn--bcher-kva.example', 'user@bücher.example', 'user@BÜCHER.example'])('binds no From (%s)', async (from) => {
    const { certificate, v } = await signedBy(latin1('user@b\u00fccher.example'), from);
    expect(certificateMailboxes(certificate).emails).toEqual([]);
    expect(v.valid).toBe(false);
    expect(v.signers[0]!.matchesFrom).toBe(false);
    expect(v.problems.map((p) => p.code)).toContain('SMIME_FROM_NOT_SIGNER');
  });

  it('still makes the certificate one with a subjectAltName: its subject emailAddress binds nothing', async () => {
    const { certificate, v } = await signedBy(latin1('user@b\u00fccher.example'), 'user@xn--bcher-kva.example', 'user@xn--bcher-kva.example');
    expect(certificateMailboxes(certificate).source).toBe('subjectAltName');
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toContain('SMIME_FROM_NOT_SIGNER');
  });

  it('a legacy subject emailAddress that is not ASCII (an IA5String, PKCS #9) binds no From either; an ASCII one binds as before', async () => {
    for (const from of ['user@xn--bcher-kva.example', 'user@bücher.example']) {
      const { certificate, v } = await selfSignedMessage([], from, 'user@bücher.example');
      expect(certificateMailboxes(certificate)).toMatchObject({ emails: [], source: 'none' });
      expect(v.valid).toBe(false);
      expect(v.problems.map((p) => p.code)).toContain('SMIME_FROM_NOT_SIGNER');
    }
    const { v } = await selfSignedMessage([], 'user@bücher.example', 'user@xn--bcher-kva.example');
    expect(v.signers[0]!.matchesFrom).toBe(true);
  });

  it('an ASCII rfc822Name beside it binds as before', async () => {
    const { v } = await signedBy(latin1('user@xn--bcher-kva.example'), 'user@bücher.example');
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
  });
});

describe('an invisible character UTS #46 ignores in the From address', () => {
  // "ceo@bank\uFE0F.example" is shown as ceo@bank.example and resolves as bank.example; its own key keeps
  // it another mailbox, so a certificate naming exactly it bound it, with no problem: "signed by ceo@bank.example".
  const smtpUtf8Mailbox = (s: string) => tlv(0xa0, oid(OID.idOnSmtpUtf8Mailbox), tlv(0xa0, tlv(0x0c, utf8(s))));
  it.each(['ceo@bank\ufe0f.example', 'ceo@ban\u034fk.example', 'ceo@\ufe00bank.example', 'ce\ufe0fo@bank.example', 'ceo@bank\u115f.example'])(
    'is a problem even when the certificate names exactly that mailbox (%s)',
    async (address) => {
      const { v } = await selfSignedMessage([smtpUtf8Mailbox(address)], address);
      expect(v.valid).toBe(false);
      expect(v.problems.map((p) => p.code)).toContain('SMIME_FROM_DISPLAY_NAME_ADDRESS');
    },
  );
  it('the same certificate and From without it are valid', async () => {
    const { v } = await selfSignedMessage([smtpUtf8Mailbox('ceo@bank.example')], 'ceo@bank.example');
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
  });
});

// Found by the spoof generator's UTF-8 paths: a name that spells the From's own address without "@"
// was compared with the address as a string, so `"pay at xn--bcher-kva.example" <pay@bücher.example>`
// — its own mailbox in A-labels — was warned as a look-alike of another address.
describe('regression: an address spelled out in the From display name is compared with the From address as a mailbox', () => {
  const warned = (from: string) => fromDisplayWarnings(parseMessage(`From: ${from}\r\nSubject: x\r\n\r\nx\r\n`)).map((w) => w.code);
  it.each([
    ['"pay at xn--bcher-kva.example" <pay@bücher.example>'],
    ['"pay at bücher.example" <pay@XN--BCHER-KVA.example>'],
    ['"pay at bu\u0308cher.example" <pay@bücher.example>'],
    ['"Pay at example.com" <pay@example.com>'],
  ])('its own mailbox otherwise spelled: no look-alike (%s)', (from) => {
    expect(warned(from)).toEqual([]);
  });
  it.each([['"ceo at bücher.example" <pay@bücher.example>'], ['"pay at \u03B1\u03C2.example" <pay@\u03B1\u03C3.example>']])(
    'another mailbox: SMIME_FROM_DISPLAY_NAME_LOOKALIKE (%s)',
    (from) => {
      expect(warned(from)).toEqual(['SMIME_FROM_DISPLAY_NAME_LOOKALIKE']);
    },
  );
  it('another mailbox whose own domain mixes scripts (a Cyrillic "с" in bücher): both', () => {
    expect(warned('"pay at bücher.example" <pay@b\u00FC\u0441her.example>')).toEqual(['SMIME_FROM_DISPLAY_NAME_LOOKALIKE', 'SMIME_FROM_DOMAIN_LOOKALIKE']);
  });
});

// As readAuthor: a spelled-out domain whose U-label mixes scripts is not the From's A-label domain to a reader.
describe('regression: an address spelled out in a mixed-script U-label is another address than its A-labels', () => {
  const warned = (from: string) => fromDisplayWarnings(parseMessage(`From: ${from}\r\nSubject: x\r\n\r\nx\r\n`)).map((w) => w.code);
  it('SMIME_FROM_DISPLAY_NAME_LOOKALIKE', () => {
    // The address itself mixes scripts too (xn--pple-43d.com is аpple.com): the domain warning beside it.
    expect(warned('"ceo at \u0430pple.com" <ceo@xn--pple-43d.com>')).toEqual(['SMIME_FROM_DISPLAY_NAME_LOOKALIKE', 'SMIME_FROM_DOMAIN_LOOKALIKE']);
    // Its own mailbox, one script: no display-name look-alike; the domain itself reads as apple.com.
    expect(warned('"ceo at \u0430\u0440\u0440\u04CF\u0435.com" <ceo@xn--80ak6aa92e.com>')).toEqual(['SMIME_FROM_DOMAIN_LOOKALIKE']);
  });
});

describe('regression: an A-label that decodes to ASCII alone (xn--paypal-) is shown by lenient clients as that name', () => {
  const warned = (from: string) => fromDisplayWarnings(parseMessage(`From: ${from}\r\nSubject: x\r\n\r\nx\r\n`));
  it('SMIME_FROM_DOMAIN_LOOKALIKE (was: none, while Node url.domainToUnicode and punycode.js show pay@paypal.com)', () => {
    expect(warned('pay@xn--paypal-.com')).toEqual([
      { code: 'SMIME_FROM_DOMAIN_LOOKALIKE', message: 'the From domain xn--paypal-.com (xn--paypal-.com) has an A-label that decodes to ASCII alone, which no valid A-label does: a client that decodes it shows paypal.com' },
    ]);
  });
  it('a U-label in Cyrillic capitals is shown as written: pay@НЅВС.com reads as pay@HSBC.com (was: none)', () => {
    expect(warned('pay@\u041D\u0405\u0412\u0421.com')).toEqual([
      { code: 'SMIME_FROM_DOMAIN_LOOKALIKE', message: `the From domain \u041D\u0405\u0412\u0421.com (${domainToAscii('\u043D\u0455\u0432\u0441.com')}) is written in Cyrillic letters that look Latin: a reader may take it for HSBC.com` },
    ]);
  });
});

// A domain written wholly in Cyrillic letters that each look Latin is one script, so the mixed-script
// rules above never flagged it: a certificate for pay@xn--80aa0cbo65f.com bound From pay@раураӏ.com, valid
// and silent, and a client that shows U-labels shows "pay@раураӏ.com", which reads as pay@paypal.com.
describe('a From domain written wholly in letters of one script that look Latin: valid, SMIME_FROM_DOMAIN_LOOKALIKE', () => {
  const rfc822 = (s: string) => implicit(1, latin1(s));
  const PAYPAL = '\u0440\u0430\u0443\u0440\u0430\u04CF'; // раураӏ: р а у р а ӏ, all Cyrillic
  const warning = 'the From domain \u0440\u0430\u0443\u0440\u0430\u04CF.com (xn--80aa0cbo65f.com) is written in Cyrillic letters that look Latin: a reader may take it for paypal.com';

  it.each([
    ['pay@xn--80aa0cbo65f.com', 'the A-label'],
    [`pay@${PAYPAL}.com`, 'the U-label'],
    ['Payments <pay@\u0420\u0410\u0423\u0420\u0410\u04C0.COM>', 'the U-label in capitals'],
  ])('a certificate for pay@xn--80aa0cbo65f.com binds From %s (%s): valid, one warning', async (from) => {
    const { v } = await selfSignedMessage([rfc822('pay@xn--80aa0cbo65f.com')], from);
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.warnings).toEqual([{ code: 'SMIME_FROM_DOMAIN_LOOKALIKE', message: warning }]);
  });

  it('Greek letters likewise: pay@ιοτα.com reads as pay@iota.com', async () => {
    const { v } = await selfSignedMessage([rfc822('pay@xn--mxapsu.com')], 'pay@\u03B9\u03BF\u03C4\u03B1.com');
    expect(v.valid).toBe(true);
    expect(v.warnings).toEqual([
      { code: 'SMIME_FROM_DOMAIN_LOOKALIKE', message: 'the From domain \u03B9\u03BF\u03C4\u03B1.com (xn--mxapsu.com) is written in Greek letters that look Latin: a reader may take it for iota.com' },
    ]);
  });

  it.each([
    ['pay@xn--80aas1bbr69g.com', 'раураӏж: ж looks like no Latin letter'],
    ['pay@\u043F\u0440\u0438\u043C\u0435\u0440.com', 'пример: и and м look like no Latin letter'],
    ['pay@xn--80aa0cbo65f.ru', 'a Cyrillic ccTLD Chromium exempts'],
    [`pay@${PAYPAL}.\u0440\u0444`, 'a TLD in Cyrillic (.рф)'],
    ['pay@\u03B9\u03BF\u03C4\u03B1.gr', 'Greek under .gr'],
    ['pay@\u043A\u0443\u0440\u0441.com', 'курс, a common word Chromium allows'],
    ['pay@paypal.com', 'Latin'],
    ['pay@b\u00FCcher.example', 'Latin with a diacritic'],
  ])('none for From %s (%s): valid, no warning', async (from) => {
    const { v } = await selfSignedMessage([rfc822(mailboxKey(from))], from);
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.warnings).toEqual([]);
  });

  // Was valid and silent: bound to its A-label like any address, while a client that shows U-labels shows pay@раураl.com.
  it('a mixed-script domain (Cyrillic раура and a Latin l): valid with the domain warning as the address, a problem besides when its U-label is shown in the name for the A-label', async () => {
    const mixed = '\u0440\u0430\u0443\u0440\u0430l.com';
    const own = mailboxKey(`pay@${mixed}`);
    expect(own).toBe('pay@xn--l-7sba6dbr.com');
    const warning = { code: 'SMIME_FROM_DOMAIN_LOOKALIKE', message: `the From domain ${mixed} (xn--l-7sba6dbr.com) mixes Cyrillic and Latin letters: a reader may take it for paypal.com` };
    const plain = await selfSignedMessage([rfc822(own)], `pay@${mixed}`);
    expect({ valid: plain.v.valid, problems: plain.v.problems, warnings: plain.v.warnings }).toEqual({ valid: true, problems: [], warnings: [warning] });
    const named = await selfSignedMessage([rfc822(own)], `"pay@${mixed}" <${own}>`);
    expect(named.v.valid).toBe(false);
    expect(named.v.problems.map((p) => p.code)).toEqual(['SMIME_FROM_DISPLAY_NAME_ADDRESS']);
    expect(named.v.warnings).toEqual([warning]);
  });

  it('its own whole-script address in the display name, or spelled out: one domain warning, no display-name finding', async () => {
    for (const from of [`"pay@${PAYPAL}.com" <pay@xn--80aa0cbo65f.com>`, `"pay at ${PAYPAL}.com" <pay@xn--80aa0cbo65f.com>`]) {
      const { v } = await selfSignedMessage([rfc822('pay@xn--80aa0cbo65f.com')], from);
      expect(v.problems, from).toEqual([]);
      expect(v.valid, from).toBe(true);
      expect(v.warnings, from).toEqual([{ code: 'SMIME_FROM_DOMAIN_LOOKALIKE', message: warning }]);
    }
  });

  it('the From of a wrapped message (RFC 8551 §3.1) too, said so', async () => {
    const wrapped = `Content-Type: message/rfc822\r\n\r\nFrom: Payments <pay@${PAYPAL}.com>\r\nTo: approvers@example.com\r\nSubject: IDN\r\n\r\nHello.\r\n`;
    const { v } = await selfSignedMessage([rfc822('pay@xn--80aa0cbo65f.com')], 'pay@xn--80aa0cbo65f.com', undefined, wrapped);
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    // (The outer header differs from the wrapped one as well: SMIME_OUTER_HEADER_MISMATCH, not the subject here.)
    expect(v.warnings.filter((w) => w.code === 'SMIME_FROM_DOMAIN_LOOKALIKE').map((w) => [w.code, w.message])).toEqual([
      ['SMIME_FROM_DOMAIN_LOOKALIKE', warning],
      ['SMIME_FROM_DOMAIN_LOOKALIKE', `in the wrapped message: ${warning}`],
    ]);
  });
});
