/**
 * Outbox delivery shared by the S/MIME and DKIM managers (one outbox, both kinds of events):
 * leased so two processes never send the same event at once, marked delivered when every sink
 * took it, otherwise retried later with exponential backoff. At least once: de-duplicate by `id`.
 */
import { z } from 'zod';
import { MailPkiError } from '../errors.js';
import type { Clock } from '../internal/clock.js';
import type { Store } from '../store/index.js';
import { DKIM_EVENT_TYPES } from './dkim-events.js';
import { LIFECYCLE_EVENT_TYPES } from './events.js';

const HOUR = 3_600_000;
/** Longest wait between two delivery attempts of one event. */
export const MAX_DELIVERY_BACKOFF_MS = 6 * HOUR;

export const outboxEventSchema = z
  .object({
    id: z.string().min(1),
    type: z.enum([...LIFECYCLE_EVENT_TYPES, ...DKIM_EVENT_TYPES]),
    occurredAt: z.string(),
    owner: z.object({ team: z.string(), contact: z.string().optional() }),
    identity: z.object({ id: z.string(), kind: z.enum(['smime', 'dkim']), name: z.string() }),
  })
  .loose();

export interface DeliverySummary {
  delivered: number;
  failed: number;
  errors: Array<{ eventId: string; message: string }>;
}

export interface DeliverOutboxOptions<E> {
  store: Pick<Store, 'leaseEvents' | 'markEventDelivered' | 'markEventFailed'>;
  sinks: readonly { deliver(event: E): Promise<void> }[];
  /** Lease owner (this process). */
  owner: string;
  now: Date;
  clock: Clock;
  leaseMs: number;
  /** Base delay before the first retry; doubled per attempt. */
  backoffMs: number;
  limit?: number;
}

export async function deliverOutbox<E>(o: DeliverOutboxOptions<E>): Promise<DeliverySummary> {
  const summary: DeliverySummary = { delivered: 0, failed: 0, errors: [] };
  if (o.sinks.length === 0) return summary;
  const max = o.limit ?? Infinity;
  while (summary.delivered + summary.failed < max) {
    const batch = await o.store.leaseEvents(o.owner, o.now, o.leaseMs, Math.min(100, max - summary.delivered - summary.failed));
    if (batch.length === 0) break;
    for (const rec of batch) {
      const parsed = outboxEventSchema.safeParse(rec.payload);
      try {
        if (!parsed.success) throw new MailPkiError('ERR_STORE_CORRUPT', `outbox record ${rec.id} is not a lifecycle event`, { cause: parsed.error });
        for (const sink of o.sinks) await sink.deliver(parsed.data as unknown as E);
        await o.store.markEventDelivered(rec.id, o.clock());
        summary.delivered++;
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        const delay = Math.min(o.backoffMs * 2 ** Math.max(0, rec.attempts - 1), MAX_DELIVERY_BACKOFF_MS);
        await o.store.markEventFailed(rec.id, message.slice(0, 2000), new Date(o.now.getTime() + delay));
        summary.failed++;
        summary.errors.push({ eventId: rec.id, message });
      }
    }
  }
  return summary;
}
