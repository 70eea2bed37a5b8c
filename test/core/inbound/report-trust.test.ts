import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeVerpToken } from '../../../src/core/bounce/verp.ts';
import {
  judgeReport,
  MAX_MESSAGE_IDS,
  sendsToLookUp,
  type SentMessage,
} from '../../../src/core/inbound/report-trust.ts';
import { messageIdFor } from '../../../src/core/message-id.ts';

const SECRETS = ['current', 'previous'];
const jane: SentMessage = {
  campaignId: 'cmp_a',
  contactId: 'ct_jane',
  email: 'Jane@Example.org',
  messageId: messageIdFor('cmp_a', 'ct_jane', 'shop.example.com'),
};
const joe: SentMessage = {
  campaignId: 'cmp_a',
  contactId: 'ct_joe',
  email: 'joe@example.org',
  messageId: messageIdFor('cmp_a', 'ct_joe', 'shop.example.com'),
};
const verpOf = (s: SentMessage, secret = 'current') =>
  encodeVerpToken({ campaignId: s.campaignId, contactId: s.contactId }, secret);

describe('which sends a report references', () => {
  it('verifies VERP tokens with any secret, drops forged ones, sorts Message-IDs into ours and legacy', () => {
    const lookup = sendsToLookUp(
      {
        verpTokens: [verpOf(jane, 'previous'), verpOf(joe, 'forged-secret'), 'garbage'],
        messageIds: [`<${joe.messageId}>`, '0123456789abcdef0123456789abcdef@shop.example.com', '', 'x'.repeat(300)],
      },
      SECRETS,
    );
    assert.deepEqual(lookup.signed, [{ campaignId: 'cmp_a', contactId: 'ct_jane' }]);
    assert.deepEqual(lookup.named, [{ campaignId: 'cmp_a', contactId: 'ct_joe' }]);
    assert.deepEqual(lookup.legacyMessageIds, ['0123456789abcdef0123456789abcdef@shop.example.com']);
  });

  it('looks up at most MAX_MESSAGE_IDS ids however long the References header', () => {
    const ids = Array.from({ length: 500 }, (_, i) => `${i}@x.example`);
    assert.equal(sendsToLookUp({ verpTokens: [], messageIds: ids }, SECRETS).legacyMessageIds.length, MAX_MESSAGE_IDS);
  });
});

describe('judging a report', () => {
  const byVerp = sendsToLookUp({ verpTokens: [verpOf(jane)], messageIds: [] }, SECRETS);
  const byMsgId = sendsToLookUp({ verpTokens: [], messageIds: [jane.messageId!] }, SECRETS);

  it('a report with neither a signed token nor our Message-ID is never trusted (the forged DSN/ARF)', () => {
    const none = sendsToLookUp({ verpTokens: [verpOf(jane, 'attacker')], messageIds: [] }, SECRETS);
    assert.deepEqual(judgeReport({ addresses: ['victim@example.net'], match: 'if_given' }, none, []), {
      trusted: false,
      reason: 'no_reference',
    });
  });

  it('a referenced row that is not in the ledger is unknown', () => {
    assert.deepEqual(judgeReport({ addresses: [], match: 'if_given' }, byMsgId, []), {
      trusted: false,
      reason: 'unknown_message',
    });
  });

  it('the address must be the one the referenced message went to (case-insensitive), else address_mismatch', () => {
    assert.deepEqual(judgeReport({ addresses: ['jane@example.ORG'], match: 'if_given' }, byVerp, [jane]), {
      trusted: true,
      send: jane,
      via: 'verp',
    });
    assert.deepEqual(judgeReport({ addresses: ['jane@example.org'], match: 'required' }, byMsgId, [jane]), {
      trusted: true,
      send: jane,
      via: 'message_id',
    });
    // our own message's token, a stranger's address: the attacker's own newsletter re-used against a victim
    assert.deepEqual(judgeReport({ addresses: ['victim@example.net'], match: 'if_given' }, byVerp, [jane]), {
      trusted: false,
      reason: 'address_mismatch',
    });
    assert.deepEqual(judgeReport({ addresses: [], match: 'required' }, byMsgId, [jane]), {
      trusted: false,
      reason: 'address_mismatch',
    });
  });

  it('a redacted report (no address) means the referenced row, unless it references rows of several people', () => {
    assert.deepEqual(judgeReport({ addresses: [], match: 'if_given' }, byVerp, [jane]), {
      trusted: true,
      send: jane,
      via: 'verp',
    });
    const both = sendsToLookUp({ verpTokens: [], messageIds: [jane.messageId!, joe.messageId!] }, SECRETS);
    assert.deepEqual(judgeReport({ addresses: [], match: 'if_given' }, both, [jane, joe]), {
      trusted: false,
      reason: 'ambiguous',
    });
    const signedJane = sendsToLookUp({ verpTokens: [verpOf(jane)], messageIds: [joe.messageId!] }, SECRETS);
    assert.deepEqual(judgeReport({ addresses: [], match: 'if_given' }, signedJane, [jane, joe]), {
      trusted: true,
      send: jane,
      via: 'verp',
    });
  });

  it('rows the report did not reference do not count, whatever the caller passes', () => {
    assert.deepEqual(judgeReport({ addresses: ['joe@example.org'], match: 'if_given' }, byVerp, [jane, joe]), {
      trusted: false,
      reason: 'address_mismatch',
    });
  });

  it('property: a trusted verdict names a referenced row whose address is among the claimed ones', () => {
    const email = fc.constantFrom<string>('a@x.example', 'b@x.example', 'c@y.example');
    const row = fc.record({
      campaignId: fc.constantFrom('c1', 'c2'),
      contactId: fc.constantFrom('k1', 'k2', 'k3'),
      email,
      messageId: fc.constant(null),
    });
    fc.assert(
      fc.property(
        fc.array(row, { maxLength: 5 }),
        fc.array(fc.nat(4), { maxLength: 3 }),
        fc.array(email, { maxLength: 2 }),
        fc.constantFrom('required', 'if_given', 'none'),
        (rows, signedIdx, addresses, match) => {
          const tokens = signedIdx.flatMap((i) =>
            rows[i] === undefined ? [] : [encodeVerpToken(rows[i]!, 'current')],
          );
          const lookup = sendsToLookUp(
            { verpTokens: tokens, messageIds: rows.map((r) => messageIdFor(r.campaignId, r.contactId, 'x.example')) },
            SECRETS,
          );
          const v = judgeReport({ addresses, match: match as 'required' }, lookup, rows);
          if (!v.trusted) return;
          assert.ok(rows.some((r) => r.campaignId === v.send.campaignId && r.contactId === v.send.contactId));
          if (match === 'required' || (match === 'if_given' && addresses.length > 0))
            assert.ok(addresses.includes(v.send.email));
        },
      ),
    );
  });
});
