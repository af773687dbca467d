/** Object identifiers of CMS (RFC 5652), S/MIME (RFC 8551) and ESS (RFC 2634, RFC 5035). */
export const CMS_OID = {
  // Content types (RFC 5652 §4–§9, RFC 5083, RFC 3274)
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  digestedData: '1.2.840.113549.1.7.5',
  encryptedData: '1.2.840.113549.1.7.6',
  authenticatedData: '1.2.840.113549.1.9.16.1.2',
  compressedData: '1.2.840.113549.1.9.16.1.9',
  authEnvelopedData: '1.2.840.113549.1.9.16.1.23',
  // Attributes (RFC 5652 §11, RFC 8551 §2.5.2, RFC 2634 §5.4, RFC 5035 §3)
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  countersignature: '1.2.840.113549.1.9.6',
  smimeCapabilities: '1.2.840.113549.1.9.15',
  signingCertificate: '1.2.840.113549.1.9.16.2.12',
  signingCertificateV2: '1.2.840.113549.1.9.16.2.47',
  // Content-encryption algorithms advertised in SMIMECapabilities (RFC 3565, RFC 5084)
  aes128CBC: '2.16.840.1.101.3.4.1.2',
  aes192CBC: '2.16.840.1.101.3.4.1.22',
  aes256CBC: '2.16.840.1.101.3.4.1.42',
  aes128GCM: '2.16.840.1.101.3.4.1.6',
  aes192GCM: '2.16.840.1.101.3.4.1.26',
  aes256GCM: '2.16.840.1.101.3.4.1.46',
} as const;

/** What a ContentInfo holds, in RFC words. */
export type ContentKind =
  | 'data'
  | 'signed-data'
  | 'enveloped-data'
  | 'digested-data'
  | 'encrypted-data'
  | 'authenticated-data'
  | 'compressed-data'
  | 'auth-enveloped-data'
  | 'unknown';

export const CONTENT_KIND_BY_OID: Readonly<Record<string, ContentKind>> = {
  [CMS_OID.data]: 'data',
  [CMS_OID.signedData]: 'signed-data',
  [CMS_OID.envelopedData]: 'enveloped-data',
  [CMS_OID.digestedData]: 'digested-data',
  [CMS_OID.encryptedData]: 'encrypted-data',
  [CMS_OID.authenticatedData]: 'authenticated-data',
  [CMS_OID.compressedData]: 'compressed-data',
  [CMS_OID.authEnvelopedData]: 'auth-enveloped-data',
};
