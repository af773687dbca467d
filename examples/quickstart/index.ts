/**
 * mailpki quickstart (`npm start`): a CA in a temporary directory, an S/MIME certificate for
 * payments@example.com, what it says, and a .p12 a mail client can import.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeCertificate, exportPkcs12, generateKeyPair, parseCertificate } from 'mailpki';
import { formatDescription } from 'mailpki/certs';
import { exportSpki } from 'mailpki/keys';
import { initLocalCaDirectory } from 'mailpki/node';

const step = (n: number, text: string) => console.log(`\n${n}. ${text}`);

const work = await mkdtemp(join(tmpdir(), 'mailpki-quickstart-'));
try {
  step(1, `Create a CA for example.com in ${work}/ca (keys encrypted at rest)`);
  const ca = await initLocalCaDirectory(join(work, 'ca'), {
    name: 'Example Corp Mail',
    allowedDomains: ['example.com'],
    passphrase: 'demo passphrase - use a secret manager in real life',
  });
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

  step(5, 'A mailbox outside the CA domains is refused');
  try {
    await ca.issue({ mailbox: 'ceo@evil.test', publicKey: await exportSpki(keys.publicKey) });
  } catch (e) {
    console.log(`   refused: ${(e as Error).message} [${(e as { code?: string }).code}]`);
  }
  console.log('\nDone.');
} finally {
  await rm(work, { recursive: true, force: true });
}
