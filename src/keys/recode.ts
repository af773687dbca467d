/** Turns the generic DER errors of the shared reader into the error code of what was being read. */
import { MailPkiError, type MailPkiErrorCode } from '../errors.js';

/**
 * Runs `read`; an ERR_DER_MALFORMED from it becomes `code`, so a caller of importPrivateKey or
 * importPkcs12 sees one code per kind of input (the original stays as `cause`).
 */
export function recodeDerErrors<T>(code: MailPkiErrorCode, what: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof MailPkiError && e.code === 'ERR_DER_MALFORMED' && code !== 'ERR_DER_MALFORMED')
      throw new MailPkiError(code, e.message.startsWith(what) ? e.message : `${what}: ${e.message}`, { cause: e });
    throw e;
  }
}
