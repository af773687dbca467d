/**
 * Separate signing and encryption certificates against OpenSSL (issue 12 item 5): OpenSSL reads the
 * keyUsage/EKU of each and accepts each only for its purpose; what `openssl cms -encrypt` sends to
 * the encryption certificate the lifecycle's getDecryptor opens; a message signed by getSigner and
 * encrypted to getEncryptionCertificate verifies in mailpki (decryptionKeys) and in OpenSSL (key
 * recovered through the audited .p12 export); changed bytes fail on both sides.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, expect, it } from 'vitest';
import { isSelfIssued, parseCertificate } from '../../src/certs/index.js';
import { toBase64 } from '../../src/internal/bytes.js';
import { decryptMessage, signAndEncrypt, verifyMessage } from '../../src/smime/index.js';
import { describeWithPeers, run, runStatus, tempDir } from '../helpers/peers.js';
import { harness } from './helpers.js';

const t = tempDir('mailpki-separate-');
afterAll(() => t.cleanup());
const toPem = (der: Uint8Array) => `-----BEGIN CERTIFICATE-----\n${toBase64(der).replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
const treasury = { team: 'treasury' };

describeWithPeers('separate certificates with OpenSSL', ['openssl'], () => {
  it('openssl: the signing certificate is for signing only, the encryption one for encryption only; cms -encrypt to the encryption certificate opens with getDecryptor; signAndEncrypt round-trips both ways; tampering fails', async () => {
    const h = await harness();
    const sender = await h.manager.enroll({ mailbox: 'pay@example.com', owner: treasury, certificates: 'separate' }, { actor: 'a' });
    const receiver = await h.manager.enroll({ mailbox: 'legal@example.com', owner: treasury, certificates: 'separate', keyType: 'rsa-2048' }, { actor: 'a' });
    const chain = await h.ca.getChain();
    const root = chain.find((c) => isSelfIssued(parseCertificate(c)))!;
    writeFileSync(t.path('root.pem'), toPem(root));
    writeFileSync(t.path('chain.pem'), chain.filter((c) => c !== root).map(toPem).join(''));
    const [sign, enc] = await h.manager.credentials(receiver.id);
    writeFileSync(t.path('sign.pem'), toPem(sign!.certificate!));
    writeFileSync(t.path('enc.pem'), toPem(enc!.certificate!));

    // keyUsage / EKU as OpenSSL reads them, and its purpose checks both ways.
    const signText = run('openssl', ['x509', '-in', t.path('sign.pem'), '-noout', '-ext', 'keyUsage,extendedKeyUsage']);
    expect(signText).toMatch(/Key Usage: critical\s+Digital Signature\s/);
    expect(signText).toMatch(/Extended Key Usage:\s+E-mail Protection/);
    const encText = run('openssl', ['x509', '-in', t.path('enc.pem'), '-noout', '-ext', 'keyUsage,extendedKeyUsage']);
    expect(encText).toMatch(/Key Usage: critical\s+Key Encipherment\s/);
    expect(encText).toMatch(/Extended Key Usage:\s+E-mail Protection/);
    const verify = (cert: string, purpose: string) => runStatus('openssl', ['verify', '-CAfile', t.path('root.pem'), '-untrusted', t.path('chain.pem'), '-purpose', purpose, cert]);
    expect(verify(t.path('sign.pem'), 'smimesign').status).toBe(0);
    expect(verify(t.path('enc.pem'), 'smimeencrypt').status).toBe(0);
    expect(verify(t.path('sign.pem'), 'smimeencrypt').status).not.toBe(0);
    expect(verify(t.path('enc.pem'), 'smimesign').status).not.toBe(0);

    // OpenSSL encrypts to the encryption certificate (AES-256-GCM, RSA-OAEP); the lifecycle's keys open it.
    const keys = await h.manager.getDecryptor(receiver.id, { actor: 'gateway', reason: 'inbound mail' });
    writeFileSync(t.path('plain.eml'), 'Content-Type: text/plain\r\n\r\ncontract draft 7\r\n');
    run('openssl', ['cms', '-encrypt', '-aes-256-gcm', '-recip', t.path('enc.pem'), '-keyopt', 'rsa_padding_mode:oaep', '-in', t.path('plain.eml'), '-out', t.path('to-enc.eml')]);
    const opened = await decryptMessage(readFileSync(t.path('to-enc.eml')), { keys });
    expect(Buffer.from(opened.entity).toString()).toBe('Content-Type: text/plain\r\n\r\ncontract draft 7\r\n');
    // Sent to the signing certificate instead: the kept keys have no key for it.
    run('openssl', ['cms', '-encrypt', '-aes-256-gcm', '-recip', t.path('sign.pem'), '-in', t.path('plain.eml'), '-out', t.path('to-sign.eml')]);
    await expect(decryptMessage(readFileSync(t.path('to-sign.eml')), { keys })).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_/) });

    // mailpki: signed with the sender's signing certificate, encrypted to the receiver's encryption certificate.
    const signer = await h.manager.getSigner(sender.id);
    const to = await h.manager.getEncryptionCertificate(receiver.id);
    const mail = await signAndEncrypt('From: pay@example.com\r\nTo: legal@example.com\r\nSubject: wire\r\n\r\nPay 100 to ACME\r\n', signer, [to.certificate]);
    const v = await verifyMessage(mail, { trustAnchors: [root], decryptionKeys: keys });
    expect(v.problems).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.layers.map((l) => l.kind)).toEqual(['encrypted', 'signed']);
    const bytes = typeof mail === 'string' ? Buffer.from(mail) : Buffer.from(mail);
    // One base64 character in the middle of the encrypted body changed.
    const start = bytes.indexOf('\r\n\r\n') + 4;
    let i = start + Math.floor((bytes.length - start) / 2);
    while (!/[A-Za-z0-9]/.test(String.fromCharCode(bytes[i]!))) i++;
    const tampered = Buffer.from(bytes);
    tampered[i] = tampered[i] === 0x41 ? 0x42 : 0x41;
    expect((await verifyMessage(tampered, { trustAnchors: [root], decryptionKeys: keys })).valid).toBe(false);

    // OpenSSL opens and verifies it too, with the encryption key recovered through the audited export.
    writeFileSync(t.path('mail.eml'), mail);
    writeFileSync(t.path('keys.p12'), await h.manager.exportDecryptionKeys(receiver.id, { actor: 'recovery', reason: 'interop test', passphrase: 'pw-123456', iterations: 1000 }));
    run('openssl', ['pkcs12', '-in', t.path('keys.p12'), '-passin', 'pass:pw-123456', '-nodes', '-nocerts', '-out', t.path('enc-key.pem')]);
    run('openssl', ['cms', '-decrypt', '-recip', t.path('enc.pem'), '-inkey', t.path('enc-key.pem'), '-in', t.path('mail.eml'), '-out', t.path('inner.eml')]);
    const ok = runStatus('openssl', ['cms', '-verify', '-CAfile', t.path('root.pem'), '-purpose', 'smimesign', '-in', t.path('inner.eml'), '-out', t.path('content.txt')]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(readFileSync(t.path('content.txt'), 'latin1')).toContain('Pay 100 to ACME');
    writeFileSync(t.path('mail-bad.eml'), tampered);
    expect(runStatus('openssl', ['cms', '-decrypt', '-recip', t.path('enc.pem'), '-inkey', t.path('enc-key.pem'), '-in', t.path('mail-bad.eml'), '-out', t.path('inner-bad.eml')]).status).not.toBe(0);
  }, 60_000);
});
