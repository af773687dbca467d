/** `mailpki/node`: adapters that need Node (files). The core never imports these. */
export { DirectoryCaStorage, initLocalCaDirectory, openLocalCaDirectory, writeFileAtomic } from './fs-storage.js';
export { serveHttp, type RunningServer, type ServeOptions } from './http-server.js';
export { openSqliteStore, SqliteStore, listIdentitiesSql, type OpenSqliteStoreOptions } from './sqlite-store.js';
export { MAILPKI_APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from './sqlite-schema.js';
export { nodeDnsResolver, type NodeDnsResolverOptions } from './dns.js';
export { nodeDnsTransport, parseServer } from './dns-update.js';
export { nodeRawRsaDecrypt } from './rsa-decrypt.js';
export { nodeAesGcm, NODE_AES_GCM_SLICE_BYTES, NODE_AES_GCM_YIELD_BYTES } from './aes-gcm.js';
export {
  createFilter,
  DEFAULT_FILTER_MAX_MESSAGE_BYTES,
  DEFAULT_FILTER_MAX_CLIENTS,
  DEFAULT_FILTER_RECENT_RECORDS,
  FILTER_EVIDENCE_LEASE_COPIES,
  FILTER_FINAL_WRITE_MARGIN_MS,
  MIN_FILTER_REINJECT_TIMEOUT_MS,
  DEFAULT_FILTER_SOCKET_TIMEOUT_MS,
  DEFAULT_FILTER_REINJECT_CONNECTIONS,
  DEFAULT_FILTER_MAX_IN_FLIGHT_BYTES,
  type FilterOptions,
  type FilterEndpoint,
  type RunningFilter,
} from './filter.js';
export { openSqliteEvidenceStore, SqliteEvidenceStore, type EvidenceEntry } from './sqlite-evidence.js';
