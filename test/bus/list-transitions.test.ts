/** listTransitions: a list event's elements whole, from their own fields or the message's. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listTransitions } from '../../src/bus/topics.ts';

describe('listTransitions', () => {
  const cause = { kind: 'rebuild' as const, id: 'l@t' };
  it("fills an element's missing list, time and cause from the message, and keeps its own", () => {
    assert.deepEqual(
      listTransitions({
        listId: 'l',
        at: '2026-06-01T12:00:00.000Z',
        cause,
        transitions: [
          { id: 1, contactId: 'a' },
          { id: 2, contactId: 'b', listId: 'm', at: 'x', cause: { kind: 'change', id: 'c1' } },
        ],
      }),
      [
        { id: 1, listId: 'l', contactId: 'a', at: '2026-06-01T12:00:00.000Z', cause },
        { id: 2, listId: 'm', contactId: 'b', at: 'x', cause: { kind: 'change', id: 'c1' } },
      ],
    );
  });
  it('refuses an element with no list, time or cause anywhere', () => {
    assert.throws(() => listTransitions({ at: 'x', cause, transitions: [{ id: 7, contactId: 'a' }] }), /transition 7/);
  });
});
