/**
 * mailpki quickstart (`npm start`), part 1: a CA in a temporary directory that publishes OCSP and
 * CRLs on 127.0.0.1, an S/MIME certificate for payments@example.com, a .p12 a mail client can
 * import, a signed payment instruction that verifies, three forgeries that do not, and the same
 * instruction failing once the signer's certificate is revoked; the instruction signed and encrypted
 * to the approver, who opens and verifies it in one call. Part 2 (lifecycle.ts) runs the
 * same identity as a governed inventory on the embedded SQLite store.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeCertificate, exportPkcs12, generateKeyPair, parseCertificate, signAndEncrypt, signMessage, verifyMessage, type Verdict } from 'mailpki';
import { formatDescription } from 'mailpki/certs';
import { exportSpki } from 'mailpki/keys';
import { initLocalCaDirectory, serveHttp } from 'mailpki/node';
import { createCaHandler } from 'mailpki/ca';
import { RevocationChecker } from 'mailpki/revocation';
import { runLifecycleDemo } from './lifecycle.js';

const step = (n: number, text: string) => console.log(`\n${n}. ${text}`);
const show = (what: string, v: Verdict) =>
  console.log(
    `   ${what}: ${v.valid ? 'VALID' : 'NOT VALID'}` +
      (v.valid ? ` (signed by ${v.signers[0]?.emails.join(', ')})` : ` — ${v.problems.map((p) => p.code).join(', ')}`),
  );

const work = await mkdtemp(join(tmpdir(), 'mailpki-quickstart-'));
const cleanup: (() => Promise<void>)[] = [];
try {
  step(1, `Create a CA for example.com in ${work}/ca (keys encrypted at rest), publishing OCSP and CRLs on 127.0.0.1`);
  // The server starts first so the CA's certificates can carry its URL; the handler is set once the CA exists.
  let handler: ((r: Request) => Promise<Response>) | undefined;
  const server = await serveHttp((r) => handler!(r), { port: 0, host: '127.0.0.1' });
  cleanup.push(() => server.close());
  const ca = await initLocalCaDirectory(join(work, 'ca'), {
    name: 'Example Corp Mail',
    allowedDomains: ['example.com'],
    passphrase: 'demo passphrase - use a secret manager in real life',
    baseUrl: server.url,
  });
  handler = createCaHandler(ca);
  console.log(`   OCSP: ${server.url}/ocsp   CRL: ${server.url}/crl/issuing.crl`);
  console.log(`   root:    ${ca.rootCertificate.subject.rdns.flat().map((a) => a.value).join(', ')}`);
  console.log(`   issuing: ${ca.issuingCertificate.subject.rdns.flat().map((a) => a.value).join(', ')}`);

  step(2, 'Generate a P-256 key and issue a strict-profile S/MIME certificate for payments@example.com');
  const keys = await generateKeyPair('ec-p256', { extractable: true });
  const issued = await ca.issue({ mailbox: 'payments@example.com', profile: 'strict', publicKey: await exportSpki(keys.publicKey) });

  step(3, 'What the certificate says');
  const cert = parseCertificate(issued.certificate);
  console.log(formatDescription(await describeCertificate(cert)).replace(/^/gm, '   '));

  step(4, 'Export it as PKCS#12 for a mail client');
  const p12 = await exportPkcs12({
    privateKey: keys.privateKey,
    certificate: issued.certificate,
    chain: issued.chain,
    passphrase: 'p12 passphrase',
    friendlyName: 'payments@example.com',
  });
  await writeFile(join(work, 'payments.p12'), p12, { mode: 0o600 });
  console.log(`   wrote ${join(work, 'payments.p12')} (${p12.length} bytes)`);

  step(5, 'Sign a payment instruction from payments@example.com');
  const signer = { key: keys.privateKey, certificate: issued.certificate, chain: [issued.chain[0]!] };
  const signed = await signMessage(
    {
      from: { name: 'Treasury', address: 'payments@example.com' },
      to: 'approvers@example.com',
      subject: 'Payment instruction 2026-118',
      text: 'Please pay 1,250.00 EUR to IBAN DE89 3704 0044 0532 0130 00 (Acme Supplies) by Friday.\n',
    },
    signer,
  );
  const text = new TextDecoder().decode(signed);
  const anchors = [ca.rootCertificate];
  // hard-fail: a payment is only released when the signer's certificate is known not to be revoked.
  const verifyPayment = (m: Uint8Array) =>
    verifyMessage(m, { trustAnchors: anchors, revocation: { policy: 'hard-fail', checker: new RevocationChecker() } });
  const good = await verifyPayment(signed);
  show('the signed message', good);
  const leafStatus = good.signers[0]?.revocation?.[0];
  console.log(`   revocation: ${leafStatus?.status} per ${leafStatus?.method?.toUpperCase()} (${leafStatus?.url}), fresh until ${leafStatus?.nextUpdate}`);

  step(6, 'Three forgeries, each rejected with its reason');
  const amount = new TextEncoder().encode(text.replace('1,250.00', '9,250.00'));
  show('one changed digit in the amount', await verifyMessage(amount, { trustAnchors: anchors }));
  const otherFrom = new TextEncoder().encode(text.replace('From: Treasury <payments@example.com>', 'From: CFO <cfo@example.com>'));
  show('a different From', await verifyMessage(otherFrom, { trustAnchors: anchors }));
  const boundary = 'wrap-9f3a';
  const wrapped = new TextEncoder().encode(
    text.replace(/Content-Type: multipart\/signed[\s\S]*$/, '') +
      `Content-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n--${boundary}\r\nContent-Type: text/plain\r\n\r\n` +
      'Update: please pay this other account instead: IBAN GB33 BUKB 2020 1555 5555 55.\r\n' +
      `--${boundary}\r\n` + text.slice(text.indexOf('Content-Type: multipart/signed')) + `\r\n--${boundary}--\r\n`,
  );
  show('the signed part wrapped with an unsigned "pay this other account instead"', await verifyMessage(wrapped, { trustAnchors: anchors }));

  step(7, 'Sign the instruction and encrypt it to the approver (AES-256-GCM; the Subject is hidden outside)');
  const approverKeys = await generateKeyPair('ec-p256', { extractable: true });
  const approver = await ca.issue({ mailbox: 'approver@example.com', profile: 'strict', publicKey: await exportSpki(approverKeys.publicKey) });
  const sealed = await signAndEncrypt(
    {
      from: { name: 'Treasury', address: 'payments@example.com' },
      to: 'approver@example.com',
      subject: 'Payment instruction 2026-119',
      text: 'Please pay 8,400.00 EUR to IBAN DE89 3704 0044 0532 0130 00 by Friday.\n',
    },
    signer,
    [approver.certificate],
    // The recipient is checked first (valid, chains to our root, may receive encrypted mail); the sent copy stays readable.
    { encryptToSelf: true, trustAnchors: anchors, intermediates: [issued.chain[0]!] },
  );
  const outside = new TextDecoder().decode(sealed);
  console.log(`   on the wire: ${/^Subject: .*$/m.exec(outside)?.[0]}, ${/smime-type=[\w-]+/.exec(outside)?.[0]}, ${sealed.length} bytes; the amount is not readable`);
  const opened = await verifyMessage(sealed, {
    trustAnchors: anchors,
    decryptionKeys: [{ privateKey: approverKeys.privateKey, certificate: approver.certificate }],
    revocation: { policy: 'hard-fail', checker: new RevocationChecker() },
  });
  show('opened and verified by the approver', opened);
  const enc = opened.layers[0];
  if (enc?.kind === 'encrypted') console.log(`   layers: encrypted ${enc.contentEncryption} (${enc.integrityProtected ? 'authenticated' : 'NOT integrity-protected'}, ${enc.keyManagement}), then signed`);
  console.log(`   protected Subject: ${opened.headerProtection[0]?.fields.find((f) => f.name === 'Subject')?.value}`);
  console.log(`   ${/Please pay[^\r\n]*/.exec(new TextDecoder().decode(opened.decryptedMessage))?.[0]}`);
  const forged = new TextEncoder().encode(outside.replace('From: Treasury <payments@example.com>', 'From: CFO <cfo@example.com>'));
  show('the same, with the outer From changed', await verifyMessage(forged, { trustAnchors: anchors, decryptionKeys: [{ privateKey: approverKeys.privateKey, certificate: approver.certificate }] }));

  step(8, "The signer's key is reported stolen: revoke the certificate, verify the same message again");
  const revoked = await ca.revoke({ serialNumber: issued.serialNumber, reason: 'keyCompromise' });
  console.log(`   revoked serial ${revoked.serialNumber} (${revoked.reason}) at ${revoked.revokedAt.toISOString()}`);
  const after = await verifyPayment(signed);
  show('the same signed message', after);
  console.log(`   ${after.problems[0]?.message}`);

  step(9, 'A mailbox outside the CA domains is refused');
  try {
    await ca.issue({ mailbox: 'ceo@evil.test', publicKey: await exportSpki(keys.publicKey) });
  } catch (e) {
    console.log(`   refused: ${(e as Error).message} [${(e as { code?: string }).code}]`);
  }
  await runLifecycleDemo(work);
  console.log('\nDone.');
} finally {
  for (const c of cleanup) await c();
  await rm(work, { recursive: true, force: true });
}
