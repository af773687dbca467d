/** Building an SmimeSigner from what people hold: PEM/DER files, or a PKCS#12 (.p12/.pfx). */
import { isSelfIssued, parseCertificate, parseCertificates } from '../certs/certificate.js';
import { MailPkiError } from '../errors.js';
import { importPrivateKey } from '../keys/index.js';
import type { DigestAlgorithm, SignatureAlgorithm } from '../keys/algorithms.js';
import { importPkcs12 } from '../pkcs12/index.js';
import type { SmimeSigner } from './sign.js';

export interface LoadSignerOptions {
  /** Passphrase of an encrypted key or of the .p12. */
  passphrase?: string;
  /** What RSA keys will sign with (WebCrypto binds RSA keys to a scheme and hash). */
  digest?: DigestAlgorithm;
  rsaPadding?: 'pkcs1' | 'pss';
  crypto?: Crypto;
}

function rsaAlgorithm(o: LoadSignerOptions): SignatureAlgorithm {
  return { scheme: o.rsaPadding === 'pss' ? 'rsa-pss' : 'rsa-pkcs1', hash: o.digest ?? 'SHA-256' };
}

/**
 * A signer from a certificate, its private key (PKCS#8, PKCS#1 or SEC1; PEM or DER; encrypted
 * or not) and optional chain. The key is imported non-extractable, bound to the chosen padding
 * and digest.
 */
export async function loadSignerFromPem(
  input: { certificate: Uint8Array | string; key: Uint8Array | string; chain?: Uint8Array | string },
  options: LoadSignerOptions = {},
): Promise<SmimeSigner> {
  const base = { ...(options.passphrase !== undefined && { passphrase: options.passphrase }), ...(options.crypto && { crypto: options.crypto }) };
  let key = await importPrivateKey(input.key, base);
  if (key.algorithm.name === 'RSASSA-PKCS1-v1_5' && (options.rsaPadding === 'pss' || (options.digest ?? 'SHA-256') !== 'SHA-256'))
    key = await importPrivateKey(input.key, { ...base, algorithm: rsaAlgorithm(options) });
  else if (options.rsaPadding === 'pss' && key.algorithm.name !== 'RSA-PSS')
    throw new MailPkiError('ERR_SIGNER_INVALID', 'RSA-PSS padding needs an RSA key');
  const certificate = parseCertificate(input.certificate);
  const chain = input.chain ? parseCertificates(input.chain).filter((c) => c.serialNumber !== certificate.serialNumber) : [];
  return { key, certificate, chain };
}

/** A signer from a PKCS#12 file: its key, the certificate that belongs to it, and the rest as chain. */
export async function loadSignerFromPkcs12(p12: Uint8Array, passphrase: string, options: Omit<LoadSignerOptions, 'passphrase'> = {}): Promise<SmimeSigner> {
  const base = options.crypto ? { crypto: options.crypto } : {};
  let contents = await importPkcs12(p12, passphrase, base);
  if (contents.privateKey.algorithm.name === 'RSASSA-PKCS1-v1_5' && (options.rsaPadding === 'pss' || (options.digest ?? 'SHA-256') !== 'SHA-256'))
    contents = await importPkcs12(p12, passphrase, { ...base, algorithm: rsaAlgorithm(options) });
  else if (options.rsaPadding === 'pss') throw new MailPkiError('ERR_SIGNER_INVALID', 'RSA-PSS padding needs an RSA key');
  const certificate = parseCertificate(contents.certificate);
  // A .p12 often carries the root too; including it does no harm, but verifiers need only intermediates.
  const chain = contents.chain.map((c) => parseCertificate(c)).filter((c) => !isSelfIssued(c));
  return { key: contents.privateKey, certificate, chain };
}
