/** zod schemas for the builder's inputs: the edge where header injection is refused. */
import { z } from 'zod';

// CR or LF in a header value would let the caller (or whoever fills the value) add header fields.
const NO_LINE_BREAKS = /^[^\r\n]*$/;
// Other C0 controls and DEL have no business in a header either (tab is folding white space).
const NO_CONTROLS = /^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$/;

export const headerTextSchema = z
  .string()
  .regex(NO_LINE_BREAKS, 'must not contain CR or LF (header injection)')
  .regex(NO_CONTROLS, 'must not contain control characters');

/** A plain ASCII addr-spec `local@domain`; quoted local parts and address literals are not built. */
export const addrSpecSchema = z
  .string()
  .max(320)
  .regex(NO_LINE_BREAKS, 'must not contain CR or LF (header injection)')
  // Checked first, so that this is the reason given: an EAI address has no ASCII form to build.
  .regex(
    /^[\x00-\x7f]*$/,
    'is an internationalised address (RFC 6531), which the builder does not write: give an international domain in A-labels (punycode), or pass the message as MIME bytes with the UTF-8 address in its header (RFC 6532)',
  )
  .regex(
    /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/,
    'must be a plain ASCII address local@domain (use punycode for international domains)',
  );

export const mailboxInputSchema = z.union([
  addrSpecSchema,
  z.object({ name: headerTextSchema.max(256).optional(), address: addrSpecSchema }).strict(),
]);

const mailboxListSchema = z.union([mailboxInputSchema, z.array(mailboxInputSchema).min(1).max(1000)]);

/** RFC 2045 token chars, as used in type/subtype. */
const MEDIA_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+$/;

export const attachmentSchema = z
  .object({
    filename: headerTextSchema.min(1).max(255),
    contentType: z.string().regex(MEDIA_TYPE, 'must be "type/subtype" without parameters'),
    content: z.union([z.instanceof(Uint8Array), z.string()]),
  })
  .strict();

/** Field names the builder writes itself; `headers` may not set them. */
export const RESERVED_HEADER_NAMES = [
  'from',
  'to',
  'cc',
  'subject',
  'date',
  'message-id',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'content-disposition',
];

const headerNameSchema = z
  .string()
  .regex(/^[!-9;-~]+$/, 'must be a header field name (printable ASCII, no colon or space)')
  .refine((n) => !RESERVED_HEADER_NAMES.includes(n.toLowerCase()), 'is set by the builder; use the named option');

// Neither side may hold "@", "<" or ">", which also keeps the regex free of backtracking.
const messageIdSchema = z
  .string()
  .max(998)
  .regex(/^<?[!-;=?A-~]+@[!-;=?A-~]+>?$/, 'must look like <id@domain> (printable ASCII, no spaces)');

export const buildMessageInputSchema = z
  .object({
    from: mailboxInputSchema,
    to: mailboxListSchema,
    cc: mailboxListSchema.optional(),
    subject: headerTextSchema.max(4096),
    date: z.date().optional(),
    messageId: messageIdSchema.optional(),
    text: z.string().optional(),
    html: z.string().optional(),
    attachments: z.array(attachmentSchema).max(1000).optional(),
    headers: z.record(headerNameSchema, headerTextSchema.max(4096)).optional(),
  })
  .strict();

const fn = <T extends (...args: never[]) => unknown>(what: string) =>
  z.custom<T>((v) => typeof v === 'function', `must be a function ${what}`);

export const buildOptionsSchema = z
  .object({
    boundary: fn<() => string>('returning a boundary string').optional(),
    now: z.date().optional(),
    randomBytes: fn<(length: number) => Uint8Array>('(length) => Uint8Array').optional(),
  })
  .strict();

export type MailboxInput = z.input<typeof mailboxInputSchema>;
export type AttachmentInput = z.input<typeof attachmentSchema>;
export type BuildMessageInput = z.input<typeof buildMessageInputSchema>;
export type BuildOptions = z.input<typeof buildOptionsSchema>;
export type AttachmentValues = z.output<typeof attachmentSchema>;
export type BuildMessageValues = z.output<typeof buildMessageInputSchema>;
