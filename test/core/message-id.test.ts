import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ledgerOfMessageId, messageIdFor } from '../../src/core/message-id.ts';

const campaignId = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,63}$/);

describe('Message-ID naming its ledger row', () => {
  it('round-trips any campaign id and any contact id, with or without angle brackets', () => {
    fc.assert(
      fc.property(campaignId, fc.string({ minLength: 1, unit: 'grapheme' }), (c, k) => {
        const id = messageIdFor(c, k, 'mail.example.com');
        assert.match(id, /^sy1\.[A-Za-z0-9_-]+@mail\.example\.com$/, 'dot-atom local part');
        assert.deepEqual(ledgerOfMessageId(id), { campaignId: c, contactId: k });
        assert.deepEqual(ledgerOfMessageId(`<${id}>`), { campaignId: c, contactId: k });
      }),
    );
  });

  it('is deterministic and distinct per row', () => {
    fc.assert(
      fc.property(campaignId, fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (c, a, b) => {
        assert.equal(messageIdFor(c, a, 'x.example'), messageIdFor(c, a, 'x.example'));
        if (a !== b) assert.notEqual(messageIdFor(c, a, 'x.example'), messageIdFor(c, b, 'x.example'));
      }),
    );
  });

  it('names no row for other ids, non-canonical encodings and ids without both parts', () => {
    for (const id of [
      '0123456789abcdef0123456789abcdef@demo.example.com',
      'sy1.@x',
      'sy1.abc',
      `sy1.${Buffer.from('nocolon').toString('base64url')}@x`,
      `sy1.${Buffer.from(':contact').toString('base64url')}@x`,
      `sy1.${Buffer.from('cmp:').toString('base64url')}@x`,
      'sy1.Y21wOmM=@x',
      'sy1.Y21wOmN@x',
    ]) {
      assert.equal(ledgerOfMessageId(id), null, id);
    }
    assert.deepEqual(ledgerOfMessageId('sy1.Y21wOmM@x'), { campaignId: 'cmp', contactId: 'c' });
  });
});
