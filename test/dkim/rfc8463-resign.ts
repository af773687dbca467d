/**
 * Re-signs the RFC 8463 A.3 Ed25519 field with the published key, from the pieces mailpki's
 * signer uses (header selection, relaxed canonicalisation, SHA-256 then Ed25519), with the RFC's
 * own field text: the output must be the RFC's b= byte for byte.
 */
import { toBase64 } from '../../src/internal/bytes.js';
import { binaryToBytes } from '../../src/dkim/canonicalization/text.js';
import { relaxedHeader } from '../../src/dkim/canonicalization/relaxed.js';
import { parseDkimSignature, withoutSignatureValue } from '../../src/dkim/header.js';
import { splitMessage } from '../../src/dkim/message.js';
import { canonicalHeaders } from '../../src/dkim/sign.js';
import { Sha256 } from '../../src/internal/sha.js';

export async function rfcReSign(privateKey: CryptoKey, signed: string): Promise<string> {
  const split = splitMessage(new TextEncoder().encode(signed));
  const field = split.headers[0]!;
  const colon = field.raw.indexOf(':');
  const parsed = parseDkimSignature(field.raw.slice(colon + 1));
  if (!parsed.ok) throw new Error(parsed.reason);
  const own = relaxedHeader(withoutSignatureValue(field.raw, colon + 1, parsed.tags.tags));
  const data = binaryToBytes(canonicalHeaders('relaxed', split.headers, parsed.tags.headers) + own.slice(0, -2));
  const sig = await crypto.subtle.sign({ name: 'Ed25519' }, privateKey, new Sha256().update(data).digest());
  return toBase64(new Uint8Array(sig));
}
