/** mailpki/pkcs12: S/MIME identities as .p12/.pfx files (RFC 7292). */
export { importPkcs12, importPkcs12All, type ImportPkcs12Options, type Pkcs12AllContents, type Pkcs12Contents, type Pkcs12KeyPair } from './import.js';
export { exportPkcs12, exportPkcs12Entries, type ExportPkcs12Options, type Pkcs12KeyEntry } from './export.js';
export {
  MAX_PKCS12_BAGS,
  MAX_PKCS12_BYTES,
  MAX_PKCS12_MAC_ITERATIONS,
  MAX_PKCS12_NESTING,
  MAX_PKCS12_TOTAL_PBKDF2_ITERATIONS,
} from './limits.js';
