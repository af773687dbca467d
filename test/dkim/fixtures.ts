/** Messages and keys shared by the DKIM tests. */
import { exportPkcs8Pem } from '../../src/keys/index.js';
import { generateDkimKey, signDkimMessage, type Canonicalization, type DkimKey, type DkimKeyAlgorithm } from '../../src/dkim/index.js';

export const DOMAIN = 'example.com';

/** A small message with folding, WSP runs and trailing blank lines: every canonicalisation rule matters. */
export function testMessage(body = 'Hello  world, \r\n\tindented line\r\n\r\nRegards,\r\nJoe\r\n\r\n\r\n'): string {
  return [
    'From: Joe SixPack <joe@example.com>',
    'To: Suzie Q <suzie@shopping.example.net>',
    'Subject: Is dinner   ready?',
    '  (folded subject line)',
    'Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)',
    'Message-ID: <20030712040037.46341.5F8J@example.com>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    body,
  ].join('\r\n');
}

/**
 * A body that is mostly canonical already (long stretches the canonicalisers hand on without a
 * copy) with irregular lines between and around them: WSP runs, a tab, WSP at line ends, a
 * WSP-only line, blank lines inside and at the end.
 */
export function mixedMessage(): string {
  const plain = 'Plain text, one space apart, nothing to change here.\r\n'.repeat(12);
  return testMessage(`${plain}Two  spaces,\ta tab, and a space at the end \r\n \t \r\n\r\n${plain}Regards,\r\nJoe\r\n${plain}\r\n\r\n`);
}

/** The bodies every interop test signs and verifies, by name. */
export const INTEROP_MESSAGES: readonly (readonly [string, () => string])[] = [
  ['short body', () => testMessage()],
  ['mixed 2 KiB body', mixedMessage],
];

/** Every canonicalisation, header/body. */
export const CANONS: readonly Canonicalization[] = ['relaxed/relaxed', 'simple/simple', 'relaxed/simple', 'simple/relaxed'];

/**
 * What the peers are given to verify: every interop body signed by mailpki with each key, in every
 * canonicalisation, with and without x=, each with a label naming the case.
 */
export async function mailpkiSignedCases(keys: readonly DkimKey[]): Promise<{ label: string; signed: string }[]> {
  const cases: { label: string; signed: string }[] = [];
  for (const [body, message] of INTEROP_MESSAGES)
    for (const key of keys)
      for (const canonicalization of CANONS)
        for (const expires of [undefined, 3600]) {
          const signed = await signDkimMessage(message(), [
            { domain: DOMAIN, selector: key.selector, privateKey: key.privateKey, canonicalization, ...(expires ? { expires } : {}) },
          ]);
          cases.push({ label: `${body}: ${key.signingAlgorithm} ${canonicalization} x=${expires ?? '-'}`, signed });
        }
  return cases;
}

/** About 5 KiB of plain text, as the bench uses. */
export function message5k(): string {
  const line = 'Please pay 1,250.00 EUR to IBAN DE89 3704 0044 0532 0130 00, reference INV-2026-118.  \r\n';
  return testMessage(line.repeat(Math.ceil(5120 / line.length)));
}

const keys = new Map<string, Promise<DkimKey>>();

/** One extractable key per algorithm and selector, made once per test file. */
export function testKey(algorithm: DkimKeyAlgorithm, selector = algorithm === 'ed25519' ? 'ed' : 'rsa'): Promise<DkimKey> {
  const id = `${algorithm}/${selector}`;
  let k = keys.get(id);
  if (!k) keys.set(id, (k = generateDkimKey({ domain: DOMAIN, selector, algorithm, extractable: true })));
  return k;
}

/** The private key as PEM (PKCS#8), for peers. */
export async function keyPem(key: DkimKey): Promise<string> {
  return exportPkcs8Pem(key.privateKey);
}

/** The raw 32-byte Ed25519 seed in base64 (what dkimpy takes), from the PKCS#8. */
export async function ed25519Seed(key: DkimKey): Promise<string> {
  const der = new Uint8Array(await crypto.subtle.exportKey('pkcs8', key.privateKey));
  return Buffer.from(der.subarray(der.length - 32)).toString('base64');
}

export function tamper(signed: string): string {
  return signed.replace('Regards,', 'Regards!');
}
