import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeVerpAddress } from '../../../src/core/bounce/verp.ts';
import { decideRecipient, parseDomainList } from '../../../src/core/inbound/recipients.ts';

const SECRETS = ['new-secret', 'old-secret'];

describe('inbound RCPT policy', () => {
  it('accepts any mailbox at a configured domain (case-insensitive), nothing elsewhere', () => {
    const policy = {
      domains: parseDomainList(' Bounce.Shop.example.com, replies.shop.example.com ,,'),
      verpSecrets: SECRETS,
    };
    assert.deepEqual(policy.domains, ['bounce.shop.example.com', 'replies.shop.example.com']);
    assert.deepEqual(decideRecipient('anything@BOUNCE.shop.example.com', policy), { accept: true, via: 'domain' });
    assert.deepEqual(decideRecipient('fbl@replies.shop.example.com', policy), { accept: true, via: 'domain' });
    assert.deepEqual(decideRecipient('victim@gmail.example', policy), { accept: false, reason: 'not_our_domain' });
    assert.deepEqual(decideRecipient('x@bounce.shop.example.com.evil.example', policy), {
      accept: false,
      reason: 'not_our_domain',
    });
    assert.deepEqual(decideRecipient('a\u0000b@bounce.shop.example.com', policy), {
      accept: false,
      reason: 'malformed',
    });
    assert.deepEqual(decideRecipient('no-at-sign', policy), { accept: false, reason: 'malformed' });
  });

  it(
    'with no domain configured, accepts only VERP addresses whose token verifies with a current or ' + 'older secret',
    () => {
      const policy = { domains: [], verpSecrets: SECRETS };
      const ids = { campaignId: 'cmp_1', contactId: 'ct_1' };
      assert.equal(
        decideRecipient(encodeVerpAddress(ids, { secret: 'old-secret', domain: 'shop.example.com' }), policy).accept,
        true,
      );
      assert.equal(
        decideRecipient(encodeVerpAddress(ids, { secret: 'new-secret', domain: 'any.example' }), policy).accept,
        true,
      );
      assert.equal(
        decideRecipient(encodeVerpAddress(ids, { secret: 'attacker', domain: 'shop.example.com' }), policy).accept,
        false,
      );
      assert.equal(decideRecipient('bounces@shop.example.com', policy).accept, false);
      assert.equal(decideRecipient('b+aaaaaaaaaaaaaaaaaaaa@shop.example.com', policy).accept, false);
    },
  );

  it('no random address is accepted without a configured domain', () => {
    fc.assert(
      fc.property(fc.emailAddress(), (address) => {
        assert.equal(decideRecipient(address, { domains: [], verpSecrets: SECRETS }).accept, false);
      }),
    );
  });
});
