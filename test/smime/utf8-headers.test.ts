/**
 * Internationalised header fields (RFC 6532, mail sent with SMTPUTF8): a message whose outer
 * Subject, From or To carry raw UTF-8 is signed and encrypted with its bytes exact, its header
 * protection copy (RFC 9788) is the same UTF-8, and verifying tells an untouched message from one
 * whose UTF-8 field was changed after signing. Header bytes that are not well-formed UTF-8 get a
 * coded error naming the field. Before the fix every such message was refused: "header fields must
 * be 7-bit ASCII".
 */
import { readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, type Certificate } from '../../src/certs/certificate.js';
import { signData } from '../../src/cms/index.js';
import { MailPkiError } from '../../src/errors.js';
import { exportPkcs8Pem, generateKeyPair, importPrivateKey } from '../../src/keys/index.js';
import { headerTextFault } from '../../src/mime/charset.js';
import { buildMessage, getHeaders, parseMessage } from '../../src/mime/index.js';
import { decryptMessage, encryptMessage, signAndEncrypt, signMessage, verifyMessage } from '../../src/smime/index.js';
import { replyToWarnings } from '../../src/smime/sender.js';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';
import { clock, issueApprover, makeSmimeFixture, multipartSigned, verifyOptions, type SmimeFixture } from './fixtures.js';

/** Bytes as a latin1 string (one char per byte) and back: edits that keep every other byte. */
const bin = (b: Uint8Array) => Buffer.from(b).toString('latin1');
const bytes = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));
/** The bytes of UTF-8 text, as such a latin1 string. */
const u = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

const HEAD = [
  'From: Jörg Müller <payments@example.com>',
  'To: Zoë <approvers@example.com>',
  'Subject: Zahlung für März',
  'Date: Sun, 15 Mar 2026 12:00:00 +0000',
  'Message-ID: <utf8.1@example.com>',
];
const BODY = 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nBitte zahlen Sie 1.250,00 € an DE00 1234 5678 9012 3456 78.\r\n';
/** The message as an SMTPUTF8 client submits it: UTF-8 in the header, as bytes. */
const MESSAGE = bytes(u(`${HEAD.join('\r\n')}\r\n${BODY}`));

const mismatches = (v: { warnings: { code: string; header?: string }[] }) => v.warnings.filter((w) => w.code === 'SMIME_OUTER_HEADER_MISMATCH').map((w) => w.header);

let f: SmimeFixture;
let approver: { certificate: Certificate; key: CryptoKey };
beforeAll(async () => {
  f = await makeSmimeFixture();
  approver = await issueApprover(f);
});

describe('signMessage with UTF-8 header fields (RFC 6532)', () => {
  it('signs them (was: ERR_INVALID_INPUT "header fields must be 7-bit ASCII"), every outer byte as given', async () => {
    const signed = bin(await signMessage(MESSAGE, f.payments, { clock }));
    expect(signed.startsWith(u(`${HEAD.join('\r\n')}\r\nMIME-Version: 1.0\r\n`))).toBe(true);
    const v = await verifyMessage(bytes(signed), verifyOptions(f));
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(getHeaders(parseMessage(bytes(signed)), 'Subject')[0]!.value).toBe('Zahlung für März');
  });

  it('header protection copies the UTF-8 fields into the signed part as the same bytes (hp="clear"); untouched, no SMIME_OUTER_HEADER_MISMATCH', async () => {
    const signed = bin(await signMessage(MESSAGE, f.payments, { clock, headerProtection: true }));
    const part = signed.slice(signed.indexOf('This is an S/MIME signed message'));
    for (const line of HEAD) expect(part).toContain(`${u(line)}\r\n`);
    expect(part).toContain('hp="clear"');
    const v = await verifyMessage(bytes(signed), verifyOptions(f));
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(mismatches(v)).toEqual([]);
    expect(v.headerProtection[0]!.differences).toEqual([]);
    expect(v.headerProtection[0]!.fields.find((h) => h.name === 'Subject')!.value).toBe('Zahlung für März');
  });

  it.each([
    ['Subject', 'Subject: Zahlung für März', 'Subject: Zahlung für Mai'],
    ['From', 'From: Jörg Müller <payments@example.com>', 'From: Jürg Müller <payments@example.com>'],
    ['To', 'To: Zoë <approvers@example.com>', 'To: Zoë <approvers@exämple.com>'],
  ])('reports the outer UTF-8 %s changed after signing (SMIME_OUTER_HEADER_MISMATCH)', async (name, was, now) => {
    const signed = bin(await signMessage(MESSAGE, f.payments, { clock, headerProtection: true }));
    const changed = signed.replace(u(was), u(now));
    expect(changed).not.toBe(signed);
    const v = await verifyMessage(bytes(changed), verifyOptions(f));
    expect(mismatches(v)).toEqual([name]);
    expect(v.headerProtection[0]!.differences.map((d) => [d.name, d.cause])).toEqual([[name, 'unexplained']]);
  });

  it('an opaque signature keeps the UTF-8 outer header too', async () => {
    const signed = await signMessage(MESSAGE, f.payments, { clock, opaque: true, headerProtection: true });
    const v = await verifyMessage(signed, verifyOptions(f));
    expect(v.problems).toEqual([]);
    expect(mismatches(v)).toEqual([]);
  });
});

describe('encryptMessage and signAndEncrypt with UTF-8 header fields', () => {
  const to = (extra: Record<string, unknown> = {}) => ({ clock, trustAnchors: f.anchors, intermediates: [f.ca.issuingCertificate], ...extra });
  const MESSAGE_TO_APPROVER = bytes(bin(MESSAGE).replace(u('To: Zoë <approvers@example.com>'), u('To: Zoë <approver@example.com>')));

  it('encrypts: the protected fields (hp="cipher") and the HP-Outer record hold the same UTF-8; the outer Subject is "[...]"', async () => {
    const eml = await encryptMessage(MESSAGE_TO_APPROVER, [approver.certificate], to());
    expect(bin(eml)).toContain(u('From: Jörg Müller <payments@example.com>\r\n'));
    expect(getHeaders(parseMessage(eml), 'Subject')[0]!.value).toBe('[...]');
    const d = await decryptMessage(eml, { keys: [{ privateKey: approver.key, certificate: approver.certificate }] });
    const inner = parseMessage(d.entity);
    expect(getHeaders(inner, 'Subject')[0]!.value).toBe('Zahlung für März');
    expect(getHeaders(inner, 'HP-Outer').map((h) => h.value)).toContain('From: Jörg Müller <payments@example.com>');
    expect(d.headerProtection!.differences.map((x) => [x.name, x.cause])).toEqual([['Subject', 'obscured']]);
  });

  it('signAndEncrypt: valid, no mismatch untouched; an outer UTF-8 From changed after sending is reported (HP-Outer says what was sent)', async () => {
    const eml = bin(await signAndEncrypt(MESSAGE_TO_APPROVER, f.payments, [approver.certificate], to({ encryptToSelf: true })));
    const open = { ...verifyOptions(f), decryptionKeys: [{ privateKey: approver.key, certificate: approver.certificate }] };
    const v = await verifyMessage(bytes(eml), open);
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(mismatches(v)).toEqual([]);
    const changed = await verifyMessage(bytes(eml.replace(u('Jörg Müller'), u('Jürg Müller'))), open);
    expect(mismatches(changed)).toEqual(['From']);
  });
});

describe('header bytes that are not RFC 6532 header text: a coded error naming the field', () => {
  const withSubject = (raw: string) => bytes(`From: payments@example.com\r\nTo: approver@example.com\r\nSubject: ${raw}\r\n${BODY}`);
  it.each([
    ['Latin-1 (not UTF-8)', 'f\xfcr M\xe4rz', /0xFC .*not UTF-8|0xFC .*cut short/],
    ['an overlong "/" (C0 AF)', 'a\xc0\xafb', /overlong/],
    ['an overlong 3-byte form (E0 80 AF)', 'a\xe0\x80\xafb', /overlong/],
    ['a UTF-16 surrogate (ED A0 80)', 'a\xed\xa0\x80b', /surrogate/],
    ['a code point above U+10FFFF (F4 90 80 80)', 'a\xf4\x90\x80\x80b', /above U\+10FFFF/],
    ['F5 and above', 'a\xf5\x80\x80\x80b', /above U\+10FFFF/],
    ['a lone continuation byte', 'a\x80b', /continuation byte without a lead byte/],
    ['a sequence cut short', 'a\xe2\x82b', /cut short/],
    ['NUL', 'a\x00b', /control character 0x00/],
    ['ESC', 'a\x1bb', /control character 0x1B/],
    ['DEL', 'a\x7fb', /control character 0x7F/],
    ['a C1 control (U+0085 NEL)', 'a\xc2\x85b', /control character U\+0085/],
  ])('%s in the Subject', async (_what, raw, reason) => {
    for (const attempt of [() => signMessage(withSubject(raw), f.payments, { clock }), () => encryptMessage(withSubject(raw), [approver.certificate], { clock })]) {
      const err = await attempt().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(MailPkiError);
      expect((err as MailPkiError).code).toBe('ERR_INVALID_INPUT');
      expect((err as MailPkiError).details).toEqual({ field: 'message', header: 'Subject' });
      expect((err as MailPkiError).message).toMatch(/^message: the Subject header field cannot be signed or encrypted as it is: /);
      expect((err as MailPkiError).message).toMatch(reason);
    }
  });

  it('a field name with UTF-8 stays refused (RFC 6532 allows UTF-8 in values only): the MIME parser says so', async () => {
    const message = bytes(u(`From: payments@example.com\r\nTo: approver@example.com\r\nBetreff-für: x\r\n${BODY}`));
    const err = await signMessage(message, f.payments, { clock }).then(() => undefined, (e: unknown) => e);
    expect((err as MailPkiError).code).toBe('ERR_MIME_MALFORMED');
  });

  it('headerTextFault agrees with a strict UTF-8 decoder on any bytes without control characters (property)', () => {
    const strict = new TextDecoder('utf-8', { fatal: true });
    const controls = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/;
    fc.assert(
      // CR and LF are judged as line structure (next test), not as characters.
      fc.property(fc.uint8Array({ maxLength: 24 }).map((b) => b.map((x) => (x === 0x0a || x === 0x0d ? 0x20 : x))), (b) => {
        let text: string | undefined;
        try {
          text = strict.decode(b);
        } catch {
          text = undefined;
        }
        const fault = headerTextFault(b);
        if (text === undefined) expect(fault).toBeDefined();
        else expect(fault === undefined).toBe(!controls.test(text));
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        const text = s.replace(/[\r\n]/g, ' ');
        expect(headerTextFault(new TextEncoder().encode(text)) === undefined).toBe(!controls.test(text));
      }),
    );
  });

  it('CR and LF only as the CRLF of a folded line', () => {
    expect(headerTextFault(bytes('Subject: a\r\n b\r\n'))).toBeUndefined();
    expect(headerTextFault(bytes('Subject: a\rb\r\n'))).toBe('the control character 0x0D at offset 10');
    expect(headerTextFault(bytes('Subject: a\nb\r\n'))).toBe('the control character 0x0A at offset 10');
  });
});

describe('the structure input ({ from, subject, ... })', () => {
  it('writes a non-ASCII Subject and display name as RFC 2047 encoded words (ASCII outside); signed, they compare equal to the protected copy', async () => {
    const input = { from: { name: 'Jörg Müller', address: 'payments@example.com' }, to: 'approvers@example.com', subject: 'Zahlung für März', text: 'Bitte zahlen.' };
    const { outerHeaders } = buildMessage(input, { now: new Date('2026-03-15T12:00:00Z') });
    expect(outerHeaders).toMatch(/^From: =\?utf-8\?/im);
    expect(outerHeaders).toMatch(/^Subject: =\?utf-8\?/im);
    const signed = await signMessage(input, f.payments, { clock, headerProtection: true });
    const v = await verifyMessage(signed, verifyOptions(f));
    expect(v.problems).toEqual([]);
    expect(mismatches(v)).toEqual([]);
  });

  it('refuses an internationalised address (UTF-8 local part, RFC 6531) with a coded error that says how to send one', () => {
    for (const address of ['jörg@bücher.example', 'jörg@example.com', 'user@bücher.example']) {
      let err: unknown;
      try {
        buildMessage({ from: address, to: 'approvers@example.com', subject: 's', text: 't' });
      } catch (e) {
        err = e;
      }
      expect((err as MailPkiError).code).toBe('ERR_INVALID_INPUT');
      expect((err as MailPkiError).message).toMatch(/^message: from: is an internationalised address \(RFC 6531\).*MIME bytes/);
    }
    expect(() => buildMessage({ from: { name: 'Jörg', address: 'jörg@bücher.example' }, to: 'approvers@example.com', subject: 's', text: 't' })).toThrow(
      /^message: from\.address: is an internationalised address/,
    );
  });
});

describe('one mailbox key in the outer/signed comparison and the Reply-To check (A-labels = U-labels)', () => {
  async function signedWith(outerFrom: string, signedFrom: string, extra: string[] = []) {
    const entity = u(`From: ${signedFrom}\r\nTo: approvers@example.com\r\n${extra.join('')}Content-Type: text/plain; charset=us-ascii\r\n\r\nHello.\r\n`);
    const cms = await signData(bytes(entity), { signers: [{ key: f.payments.key, certificate: f.payments.certificate }], certificates: [f.payments.certificate.der], detached: true });
    const message = multipartSigned([u(`From: ${outerFrom}`), 'To: approvers@example.com', 'Subject: IDN', 'Date: Sun, 15 Mar 2026 12:00:00 +0000'], entity, cms);
    return verifyMessage(bytes(message), verifyOptions(f, { intermediates: f.payments.chain }));
  }

  it.each([
    ['user@bücher.example', 'user@xn--bcher-kva.example'],
    ['User <user@BÜCHER.example>', 'User <user@xn--bcher-kva.example>'],
  ])('outer From %s and signed From %s are one mailbox: no SMIME_OUTER_HEADER_MISMATCH (it warned)', async (outer, signed) => {
    expect(mismatches(await signedWith(outer, signed))).toEqual([]);
  });

  it.each([
    ['user@bücher.example', 'user@xn--bcher-kva.examples'],
    ['user@bü\u0441her.example', 'user@xn--bcher-kva.example'],
    ['User@bücher.example', 'user@xn--bcher-kva.example'],
  ])('another mailbox is still reported: outer %s, signed %s', async (outer, signed) => {
    expect(mismatches(await signedWith(outer, signed))).toEqual(['From']);
  });

  const replyTo = (from: string, reply: string) => replyToWarnings(parseMessage(bytes(u(`From: ${from}\r\nReply-To: ${reply}\r\n\r\n`))), from).map((w) => w.code);
  it.each([
    ['user@xn--bcher-kva.example', 'desk@bücher.example'],
    ['user@bücher.example', 'desk@XN--BCHER-KVA.example'],
    ['user@bücher.example', 'desk@mail.xn--bcher-kva.example'],
  ])('From %s, Reply-To %s: the same domain, no SMIME_REPLY_TO_OTHER_DOMAIN (it warned)', (from, reply) => {
    expect(replyTo(from, reply)).toEqual([]);
  });

  it.each([
    ['user@bücher.example', 'desk@bu\u0441her.example'],
    ['user@xn--bcher-kva.example', 'desk@buecher.example'],
  ])('From %s, Reply-To %s: another domain is still reported', (from, reply) => {
    expect(replyTo(from, reply)).toEqual(['SMIME_REPLY_TO_OTHER_DOMAIN']);
  });
});

describeWithPeers('UTF-8 header fields with OpenSSL: an SmtpUTF8Mailbox certificate, and both directions of signing', ['openssl'], () => {
  const t = tempDir('mailpki-utf8-headers-');
  let ca: Certificate;
  let leaf: { certificate: Certificate; key: CryptoKey };
  const EAI_HEAD = ['From: Jörg <jörg@bücher.example>', 'To: Zoë <zoë@bücher.example>', 'Subject: Zahlung für März', 'Date: Sun, 15 Mar 2026 12:00:00 +0000'];
  const EAI_MESSAGE = bytes(u(`${EAI_HEAD.join('\r\n')}\r\n${BODY}`));
  const verifyEai = (eml: Uint8Array) => verifyMessage(eml, { trustAnchors: [ca] });
  const opensslVerify = (file: string) => runStatus('openssl', ['cms', '-verify', '-in', file, '-CAfile', t.path('ca.pem'), '-purpose', 'smimesign', '-out', '/dev/null']);

  beforeAll(async () => {
    run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', t.path('ca.key'), '-out', t.path('ca.pem'), '-days', '30', '-subj', '/CN=EAI Test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    ca = parseCertificate(run('cat', [t.path('ca.pem')]));
    // SmtpUTF8Mailbox (RFC 9598, id-on-SmtpUTF8Mailbox 1.3.6.1.5.5.7.8.9) for the UTF-8 local part and U-label domain.
    const pair = await generateKeyPair('ec-p256', { extractable: true });
    writeFileSync(t.path('leaf.key'), await exportPkcs8Pem(pair.privateKey), { mode: 0o600 });
    run('openssl', ['req', '-new', '-key', t.path('leaf.key'), '-out', t.path('leaf.csr'), '-subj', '/CN=Joerg']);
    writeFileSync(t.path('leaf.ext'), 'keyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=emailProtection\nbasicConstraints=critical,CA:FALSE\nsubjectAltName=@alt\n[alt]\notherName.1=1.3.6.1.5.5.7.8.9;FORMAT:UTF8,UTF8:jörg@bücher.example\n');
    run('openssl', ['x509', '-req', '-in', t.path('leaf.csr'), '-CA', t.path('ca.pem'), '-CAkey', t.path('ca.key'), '-CAcreateserial', '-out', t.path('leaf.pem'), '-days', '10', '-extfile', t.path('leaf.ext')]);
    leaf = { certificate: parseCertificate(run('cat', [t.path('leaf.pem')])), key: await importPrivateKey(run('cat', [t.path('leaf.key')])) };
    expect(leaf.certificate.subjectAltName?.smtpUtf8Mailboxes).toEqual(['jörg@bücher.example']);
  });
  afterAll(() => t.cleanup());

  it('mailpki signs From: Jörg <jörg@bücher.example>; the SmtpUTF8Mailbox certificate binds it (sign → verify)', async () => {
    for (const headerProtection of [false, true]) {
      const signed = await signMessage(EAI_MESSAGE, { key: leaf.key, certificate: leaf.certificate }, { headerProtection });
      const v = await verifyEai(signed);
      expect(v.problems).toEqual([]);
      expect(v.valid).toBe(true);
      expect(v.signers[0]!.matchesFrom).toBe(true);
      expect(mismatches(v)).toEqual([]);
    }
  });

  it('the same certificate does not bind another UTF-8 From put outside after signing', async () => {
    const signed = bin(await signMessage(EAI_MESSAGE, { key: leaf.key, certificate: leaf.certificate }));
    const v = await verifyEai(bytes(signed.replace(u('jörg@bücher.example'), u('jürg@bücher.example'))));
    expect(v.valid).toBe(false);
    expect(v.problems.map((p) => p.code)).toContain('SMIME_FROM_NOT_SIGNER');
  });

  it('openssl cms -verify passes the mailpki-signed message (UTF-8 outer and protected fields), and fails when a signed UTF-8 byte is changed', async () => {
    const signed = bin(await signMessage(EAI_MESSAGE, { key: leaf.key, certificate: leaf.certificate }, { headerProtection: true }));
    writeFileSync(t.path('good.eml'), bytes(signed));
    const good = opensslVerify(t.path('good.eml'));
    expect(good.stderr).toMatch(/Verification successful/);
    expect(good.status).toBe(0);
    // "März" in the signed part (the protected Subject), not the outer one: "Mürz".
    const part = signed.indexOf('This is an S/MIME signed message');
    const at = signed.indexOf(u('März'), part);
    expect(at).toBeGreaterThan(part);
    const tampered = signed.slice(0, at) + u('Mürz') + signed.slice(at + u('März').length);
    writeFileSync(t.path('bad.eml'), bytes(tampered));
    const bad = opensslVerify(t.path('bad.eml'));
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/digest failure|content verify error/i);
  });

  it('signAndEncrypt to the SmtpUTF8Mailbox certificate named in a UTF-8 To; openssl cms -decrypt gives the protected UTF-8 fields as sent', async () => {
    const toJoerg = bytes(bin(EAI_MESSAGE).replace(u('To: Zoë <zoë@bücher.example>'), u('To: Jörg <jörg@BÜCHER.example>')));
    const signer = { key: leaf.key, certificate: leaf.certificate };
    const eml = await signAndEncrypt(toJoerg, signer, [leaf.certificate], { trustAnchors: [ca] });
    const decryptKey = await importPrivateKey(readFileSync(t.path('leaf.key'), 'utf8'), { usage: 'decrypt' });
    const v = await verifyMessage(eml, { trustAnchors: [ca], decryptionKeys: [{ privateKey: decryptKey, certificate: leaf.certificate }] });
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.signers[0]!.matchesFrom).toBe(true);
    expect(mismatches(v)).toEqual([]);
    writeFileSync(t.path('sealed.eml'), eml);
    run('openssl', ['cms', '-decrypt', '-in', t.path('sealed.eml'), '-recip', t.path('leaf.pem'), '-inkey', t.path('leaf.key'), '-out', t.path('opened.eml')]);
    const opened = bin(readFileSync(t.path('opened.eml')));
    for (const line of ['From: Jörg <jörg@bücher.example>', 'Subject: Zahlung für März', 'HP-Outer: Subject: [...]']) expect(opened).toContain(u(line));
  });

  it('mailpki verifies a message OpenSSL signed with UTF-8 outer fields (and the same fields signed inside), and reports a changed outer Subject', async () => {
    // OpenSSL signs the whole message (UTF-8 header fields and content), as `openssl cms -sign -in message.eml` does, and writes the outer fields itself.
    writeFileSync(t.path('content.eml'), bytes(u(`${EAI_HEAD.join('\r\n')}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBitte zahlen Sie 1.250,00 EUR.\r\n`)));
    run('openssl', ['cms', '-sign', '-in', t.path('content.eml'), '-signer', t.path('leaf.pem'), '-inkey', t.path('leaf.key'), '-out', t.path('openssl.eml'),
      '-from', 'Jörg <jörg@bücher.example>', '-to', 'Zoë <zoë@bücher.example>', '-subject', 'Zahlung für März']);
    const eml = bin(readFileSync(t.path('openssl.eml')));
    expect(eml).toContain(u('Subject: Zahlung für März'));
    const v = await verifyEai(bytes(eml));
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.signers[0]!.matchesFrom).toBe(true);
    expect(mismatches(v)).toEqual([]);
    const changed = await verifyEai(bytes(eml.replace(u('Subject: Zahlung für März'), u('Subject: Zahlung für Mai'))));
    expect(changed.valid).toBe(true);
    expect(mismatches(changed)).toEqual(['Subject']);
  });
});
