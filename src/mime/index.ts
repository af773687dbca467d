/** mailpki/mime: MIME parsing, encodings, addresses and message building. Knows no crypto. */
export { canonicalizeLineEndings, endHeaderAtNonField, isCanonical } from './canonical.js';
export { parseMessage } from './parse.js';
export type { MimeEntity, MimeEntityKind, ByteRange } from './entity.js';
export { decodeTransferEncoding } from './entity.js';
export { getHeaders, type HeaderField, type HasHeaders } from './headers.js';
export {
  parseContentType,
  parseContentDisposition,
  parseTransferEncoding,
  type ContentType,
  type ContentDisposition,
} from './params.js';
export { walkEntities, findEntity } from './walk.js';
export { DEFAULT_MIME_LIMITS, type MimeLimits } from './limits.js';
export { decodeBase64Body, encodeBase64Lines } from './base64.js';
export { encodeQuotedPrintable, decodeQuotedPrintable, type QuotedPrintableOptions } from './quoted-printable.js';
export { decodeEncodedWords, encodeEncodedWords, needsEncodedWords, readEncodedWords, type EncodedWordsReading, type EncodeWordsOptions } from './encoded-word.js';
export {
  parseAddressList,
  normalizeAddress,
  findAddressesInDisplayNames,
  findAddressesInText,
  type Mailbox,
  type AddressGroup,
  type AddressList,
  type DisplayNameAddress,
} from './address.js';
export { describeLatinLookalike, latinLookalike, type LatinLookalike } from './lookalike-domain.js';
export { readAuthor, readAuthorCandidates, MAX_AUTHOR_CANDIDATES, type AuthorCandidates, type Author, type AuthorProblem, type AuthorProblemCode, type AuthorReading } from './author.js';
export { buildMessage, assembleMessage, type BuiltMessage } from './build.js';
export type { BuildMessageInput, BuildOptions, MailboxInput, AttachmentInput } from './schema.js';
export { make7bitSafe, is7bitClean } from './seven-bit.js';
