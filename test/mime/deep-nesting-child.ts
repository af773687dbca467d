/**
 * Run by deep-nesting.test.ts under `node --stack-size=400 --import tsx`: builds a deeply nested
 * message (argv: kind, depth, maxDepth) and prints one JSON line saying what each entry point did:
 * a result, a coded MailPkiError, or another exception (which the test refuses).
 */
import { keySigner, signCertificate } from '../../src/certs/builder.js';
import { encodeName } from '../../src/certs/name.js';
import { parseSignedData } from '../../src/cms/index.js';
import { MailPkiError } from '../../src/errors.js';
import { exportSpki, generateKeyPair } from '../../src/keys/index.js';
import { make7bitSafe, parseMessage, walkEntities } from '../../src/mime/index.js';
import { verifyMessage } from '../../src/smime/index.js';

const [kind = 'multipart', depthArg = '998', maxDepthArg = '1000'] = process.argv.slice(2);
const depth = Number(depthArg);
const maxDepth = Number(maxDepthArg);

/** `depth` containers inside each other around a text/plain leaf. */
function nested(): string {
  let body = 'Content-Type: text/plain\r\n\r\nhello\r\n';
  for (let i = depth - 1; i >= 0; i--) {
    const multipart = kind === 'multipart' || (kind === 'mixed' && i % 2 === 0);
    body = multipart
      ? `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n${body}\r\n--b${i}--\r\n`
      : `Content-Type: message/rfc822\r\n\r\n${body}`;
  }
  return `From: payments@example.com\r\nMIME-Version: 1.0\r\n${body}`;
}

/** BER with `depth` nested indefinite-length SEQUENCEs. */
function nestedBer(): Uint8Array {
  const out = new Uint8Array(depth * 4);
  for (let i = 0; i < depth; i++) out.set([0x30, 0x80], i * 2);
  return out;
}

async function outcome(run: () => unknown): Promise<unknown> {
  try {
    const r = await run();
    return { result: r };
  } catch (e) {
    if (e instanceof MailPkiError) return { code: e.code };
    return { uncaught: (e as Error)?.name ?? String(e), message: (e as Error)?.message };
  }
}

const out: Record<string, unknown> = {};
if (kind === 'ber') {
  out.parseSignedData = await outcome(() => (parseSignedData(nestedBer(), { maxDepth }), 'parsed'));
} else {
  const message = nested();
  const rootKeys = await generateKeyPair('ec-p256');
  const name = encodeName([{ type: 'CN', value: 'Deep Root' }]);
  const anchor = await signCertificate(
    { serial: Uint8Array.of(1), issuer: name, subject: name, notBefore: new Date(0), notAfter: new Date(4e12), spki: await exportSpki(rootKeys.publicKey), extensions: [] },
    keySigner(rootKeys.privateKey, { scheme: 'ecdsa', hash: 'SHA-256' }),
  );
  out.parseMessage = await outcome(() => [...walkEntities(parseMessage(message, { maxDepth }))].length);
  out.make7bitSafe = await outcome(() => make7bitSafe(message, { maxDepth }).length > 0);
  out.verifyMessage = await outcome(async () => (await verifyMessage(message, { trustAnchors: [anchor], mimeLimits: { maxDepth } })).problems.map((p) => p.code));
}
console.log(JSON.stringify(out));
