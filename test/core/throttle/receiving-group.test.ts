import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { receivingGroup } from '../../../src/core/throttle/receiving-group.ts';
import { classifyDeferral } from '../../../src/core/throttle/deferral-class.ts';

describe('receiving group', () => {
  it('groups the big consumer providers and leaves other domains alone', () => {
    const cases: [string, string][] = [
      ['a@gmail.com', 'google'],
      ['googlemail.com', 'google'],
      ['GMAIL.COM.', 'google'],
      ['x@outlook.com', 'microsoft'],
      ['hotmail.co.uk', 'microsoft'],
      ['live.fr', 'microsoft'],
      ['msn.com', 'microsoft'],
      ['yahoo.com', 'yahoo'],
      ['yahoo.com.br', 'yahoo'],
      ['aol.com', 'yahoo'],
      ['ymail.com', 'yahoo'],
      ['icloud.com', 'apple'],
      ['b@Acme.Example', 'acme.example'],
      ['live.nation.com', 'live.nation.com'],
    ];
    for (const [input, group] of cases) assert.equal(receivingGroup(input), group, input);
  });
});

describe('deferral class', () => {
  it('follows deliverability.md §3', () => {
    assert.equal(classifyDeferral({ smtpCode: 421, enhancedStatus: '4.7.28' }), 'hard');
    assert.equal(
      classifyDeferral({ smtpCode: 421, diagnostic: '421 RP-001 (BAY004-MC1F29) Unfortunately, some messages' }),
      'hard',
    );
    assert.equal(
      classifyDeferral({ smtpCode: 451, diagnostic: '451 4.7.650 The mail server has been temporarily rate limited' }),
      'hard',
    );
    assert.equal(classifyDeferral({ smtpCode: 421, enhancedStatus: '4.7.0' }), 'throttle');
    assert.equal(classifyDeferral({ httpStatus: 429 }), 'throttle');
    assert.equal(classifyDeferral({ smtpCode: 421, diagnostic: '421 4.4.5 Server busy' }), 'throttle');
    assert.equal(classifyDeferral({ smtpCode: 450, enhancedStatus: '4.2.1' }), 'recipient');
    assert.equal(classifyDeferral({ smtpCode: 452, diagnostic: '452 4.2.2 mailbox full' }), 'recipient');
  });
});
