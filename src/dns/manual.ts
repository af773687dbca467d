/** The publisher for zones edited by people: it changes nothing, the lifecycle events tell the owners what to publish. */
import type { DnsPublisher } from './types.js';

/**
 * A publisher that does nothing: each step emits an event (`dkim.record.publish`, `dkim.record.retire`,
 * `dkim.key.removed`) carrying the exact record, and the state machine waits until DNS serves it.
 *
 * @example
 * const dkim = new DkimManager({ store, keyProtector, publisher: manualPublisher(), resolver });
 */
export function manualPublisher(): DnsPublisher {
  return Object.freeze({
    name: 'manual',
    automatic: false,
    publish: async () => {},
    retire: async () => {},
    remove: async () => {},
  });
}
