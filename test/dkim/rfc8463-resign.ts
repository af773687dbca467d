/**
 * Re-signs the RFC 8463 A.3 Ed25519 field with the published key, from the pieces mailpki's
 * signer uses (header selection, relaxed canonicalisation, SHA-256 then Ed25519), with the RFC's
 * own field text: the output must be the RFC's b= byte for byte.
 */
import { toBase64 } from '../../src/internal/bytes.js';
import { signedHeaderData } from '../../src/dkim/canonicalization/index.js';
import { parseDkimSignature, withoutSignatureValue } from '../../src/dkim/header.js';
import { splitMessage } from '../../src/dkim/message.js';
import { Sha256 } from '../../src/internal/sha.js';

export async function rfcReSign(privateKey: CryptoKey, signed: string): Promise<string> {
  const split = splitMessage(new TextEncoder().encode(signed));
  const field = split.headers[0]!;
  const colon = field.raw.indexOf(':');
  const parsed = parseDkimSignature(field.raw.slice(colon + 1));
  if (!parsed.ok) throw new Error(parsed.reason);
  const data = signedHeaderData('relaxed', split.headers, parsed.tags.headers, withoutSignatureValue(field.raw, colon + 1, parsed.tags.tags));
  const sig = await crypto.subtle.sign({ name: 'Ed25519' }, privateKey, new Sha256().update(data).digest());
  return toBase64(new Uint8Array(sig));
}
