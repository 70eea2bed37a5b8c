import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  classifyReplyIntent,
  createIntentClassifier,
  DEFAULT_INTENT_RULES,
  isClearIntent,
  REPLY_INTENTS,
} from '../../../src/core/reply/intent.ts';

describe('classifyReplyIntent', () => {
  const cases: Array<[string, string, boolean]> = [
    ['Please remove me from your mailing list.', 'unsubscribe_request', true],
    ['STOP', 'unsubscribe_request', true],
    ['Bitte abmelden.', 'unsubscribe_request', true],
    ['Je souhaite me désinscrire, merci.', 'unsubscribe_request', true],
    ['Por favor, darme de baja.', 'unsubscribe_request', true],
    [
      'I am out of the office until Monday with limited access to email. For urgent matters please contact '
        + 'ops@contoso.example.',
      'out_of_office',
      true,
    ],
    ["Je suis absente jusqu'au 1er décembre.", 'out_of_office', true],
    ["Hi, this looks great. I'm interested - could you send me the pricing for 50 seats?", 'interested', true],
    ['Estoy interesado, ¿me envían más información?', 'interested', true],
    ['This is spam, I never signed up for this.', 'complaint', true],
    ["I'm not the right person for this. Please contact procurement@example.org instead.", 'wrong_person', true],
    ['Ich bin nicht zuständig.', 'wrong_person', true],
    ['Not interested.', 'unsubscribe_request', false],
    ['Thanks for the email.', 'other', false],
    ['', 'other', false],
  ];
  for (const [text, intent, clear] of cases) {
    it(`${JSON.stringify(text.slice(0, 40))} → ${intent}${clear ? ' (clear)' : ''}`, () => {
      const r = classifyReplyIntent(text);
      assert.equal(r.intent, intent, JSON.stringify(r));
      assert.equal(r.isClear, clear, JSON.stringify(r));
      if (intent !== 'other') assert.equal(r.matchedRule?.intent, intent);
    });
  }

  it('does not read "not interested" as interested, nor "priceless" as pricing', () => {
    assert.notEqual(classifyReplyIntent('We are not interested').intent, 'interested');
    assert.equal(classifyReplyIntent('This is priceless').intent, 'other');
  });

  it('conflicting signals lower confidence below the automation threshold', () => {
    const r = classifyReplyIntent('Stop spamming me and unsubscribe me now');
    assert.equal(r.isClear, false);
    assert.equal(r.matches.length, 2);
  });

  it('extra rules extend the defaults; rules replace them', () => {
    const extra = [{ id: 'nl.unsub', intent: 'unsubscribe_request' as const, weight: 1, patterns: ['afmelden'] }];
    assert.equal(classifyReplyIntent('Graag afmelden').intent, 'other');
    assert.equal(createIntentClassifier(extra)('Graag afmelden').matchedRule?.ruleId, 'nl.unsub');
    assert.equal(classifyReplyIntent('please unsubscribe', { rules: extra }).intent, 'other');
    assert.ok(DEFAULT_INTENT_RULES.length > 5);
  });

  it('property: result is one known intent, confidence in [0,1], clear ⇔ named intent ≥ threshold', () => {
    fc.assert(
      fc.property(fc.string(), fc.double({ min: 0, max: 1, noNaN: true }), (text, threshold) => {
        const r = classifyReplyIntent(text, { clearThreshold: threshold });
        assert.ok((REPLY_INTENTS as readonly string[]).includes(r.intent));
        assert.ok(r.confidence >= 0 && r.confidence <= 1);
        assert.equal(r.isClear, isClearIntent(r, threshold));
      }),
    );
  });
});
