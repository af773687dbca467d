/** zod at the edges: a failed parse becomes ERR_INVALID_INPUT naming the field. */
import type { z } from 'zod';
import { MailPkiError, type MailPkiErrorCode } from '../errors.js';

export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  code: MailPkiErrorCode = 'ERR_INVALID_INPUT',
): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue && issue.path.length ? issue.path.join('.') : '(value)';
  throw new MailPkiError(code, `${what}: ${path}: ${issue?.message ?? 'invalid'}`, {
    cause: r.error,
    details: { field: path },
  });
}
