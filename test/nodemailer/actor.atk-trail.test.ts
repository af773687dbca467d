/** The plugin's actor follows the lifecycle's rule, checked when the plugin is made — not at every send (atk-trail). */
import { describe, expect, it } from 'vitest';
import { mailpkiPlugin } from '../../src/nodemailer/index.js';

describe('mailpkiPlugin actor', () => {
  it('an actor the audit log would refuse (blank, a line break, a bidirectional control) is ERR_INVALID_INPUT at once', () => {
    for (const actor of ['   ', 'app\npayments', '\u202Eeve', 'x\uD800'])
      expect(() => mailpkiPlugin({ actor } as never), JSON.stringify(actor)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', details: { field: 'actor' } }));
  });
});
