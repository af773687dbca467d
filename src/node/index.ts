/** `mailpki/node`: adapters that need Node (files). The core never imports these. */
export { DirectoryCaStorage, initLocalCaDirectory, openLocalCaDirectory, writeFileAtomic } from './fs-storage.js';
export { serveHttp, type RunningServer, type ServeOptions } from './http-server.js';
export { openSqliteStore, SqliteStore, listIdentitiesSql, type OpenSqliteStoreOptions } from './sqlite-store.js';
export { MAILPKI_APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from './sqlite-schema.js';
export { nodeDnsResolver, type NodeDnsResolverOptions } from './dns.js';
export { nodeDnsTransport, parseServer } from './dns-update.js';
export { nodeRawRsaDecrypt } from './rsa-decrypt.js';
