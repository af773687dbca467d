/**
 * In-process listeners by event type (or '*'), shared by the S/MIME and DKIM managers. Listeners
 * hear events after their transaction committed; a throwing or rejecting listener is reported to
 * `onError` and never undoes or blocks the change.
 */
import { MailPkiError } from '../errors.js';
export class ListenerRegistry<E extends { type: string }> {
  private readonly byType = new Map<string, Set<(event: E) => void | Promise<void>>>();

  constructor(
    private readonly types: readonly string[],
    private readonly onError: (error: unknown, context: string) => void,
  ) {}

  add(type: string, listener: (event: E) => void | Promise<void>): () => void {
    if (type !== '*' && !this.types.includes(type)) throw new MailPkiError('ERR_INVALID_INPUT', `on: unknown event type ${String(type)}`, { details: { field: 'type' } });
    if (typeof listener !== 'function') throw new MailPkiError('ERR_INVALID_INPUT', 'on: listener must be a function', { details: { field: 'listener' } });
    let set = this.byType.get(type);
    if (!set) this.byType.set(type, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  dispatch(events: readonly E[]): void {
    for (const event of events) {
      for (const l of [...(this.byType.get(event.type) ?? []), ...(this.byType.get('*') ?? [])]) {
        try {
          const r = l(event);
          if (r && typeof r.then === 'function') r.catch((e: unknown) => this.onError(e, `listener for ${event.type}`));
        } catch (e) {
          this.onError(e, `listener for ${event.type}`);
        }
      }
    }
  }
}
