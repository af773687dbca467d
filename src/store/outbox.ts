import { MailPkiError } from '../errors.js';
/** Argument checks shared by the leases of every store: outbox events and identity claims. */

/** Longest lease: a day. A longer one would hide a crashed deliverer's events for too long. */
export const MAX_LEASE_MS = 24 * 60 * 60 * 1000;

export function checkLease(owner: string, now: Date, leaseMs: number, limit: number): void {
  if (typeof owner !== 'string' || owner.length === 0 || owner.length > 200) throw new MailPkiError('ERR_INVALID_INPUT', 'leaseEvents: owner must be a string of 1 to 200 characters', { details: { field: 'owner' } });
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new MailPkiError('ERR_INVALID_INPUT', 'leaseEvents: now must be a valid Date', { details: { field: 'now' } });
  if (!Number.isInteger(leaseMs) || leaseMs < 1 || leaseMs > MAX_LEASE_MS) throw new MailPkiError('ERR_INVALID_INPUT', `leaseEvents: leaseMs must be an integer from 1 to ${MAX_LEASE_MS}`, { details: { field: 'leaseMs' } });
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new MailPkiError('ERR_INVALID_INPUT', 'leaseEvents: limit must be an integer from 1 to 10000', { details: { field: 'limit' } });
}

export function checkDate(d: Date, what: string): void {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new MailPkiError('ERR_INVALID_INPUT', `${what} must be a valid Date`, { details: { field: what } });
}

export function checkClaim(what: string, identityId: string, owner: string, now?: Date, leaseMs?: number): void {
  if (typeof identityId !== 'string' || identityId.length === 0 || identityId.length > 512) throw new MailPkiError('ERR_INVALID_INPUT', `${what}: identityId must be a string of 1 to 512 characters`, { details: { field: 'identityId' } });
  if (typeof owner !== 'string' || owner.length === 0 || owner.length > 200) throw new MailPkiError('ERR_INVALID_INPUT', `${what}: owner must be a string of 1 to 200 characters`, { details: { field: 'owner' } });
  if (now !== undefined && (!(now instanceof Date) || Number.isNaN(now.getTime()))) throw new MailPkiError('ERR_INVALID_INPUT', `${what}: now must be a valid Date`, { details: { field: 'now' } });
  if (leaseMs !== undefined && (!Number.isInteger(leaseMs) || leaseMs < 1 || leaseMs > MAX_LEASE_MS)) throw new MailPkiError('ERR_INVALID_INPUT', `${what}: leaseMs must be an integer from 1 to ${MAX_LEASE_MS}`, { details: { field: 'leaseMs' } });
}
