/** mailpki/keys: key generation, PKCS#8 and SPKI import/export, key descriptions, signature algorithms. */
export * from './algorithms.js';
export { KEY_TYPES, generateKeyPair, keyTypeDecrypts, keyTypeSigns, type GenerateKeyPairOptions, type KeyType } from './generate.js';
export {
  exportPkcs8,
  exportPkcs8Pem,
  importPrivateKey,
  type ExportPkcs8Options,
  type ImportPrivateKeyOptions,
} from './pkcs8.js';
export { decryptPrivateKeyInfo, encryptPrivateKeyInfo, type EncryptPrivateKeyInfoOptions } from './pbes2.js';
export { exportSpki, exportSpkiPem, importPublicKey, type ImportPublicKeyOptions } from './spki.js';
export { describeKey, type KeyDescription } from './describe.js';
export {
  DEFAULT_MAX_PUBLIC_KEY_OPERATIONS,
  DEFAULT_PBKDF2_ITERATIONS,
  MAX_KEY_INPUT_BYTES,
  MAX_PBKDF2_ITERATIONS,
  MAX_RSA_EXPONENT_BITS,
  MAX_RSA_MODULUS_BITS,
  MIN_PBKDF2_ITERATIONS,
} from './limits.js';
export { PublicKeyBudget, publicKeyOperationCost } from './budget.js';
