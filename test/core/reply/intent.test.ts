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

  it('conflicting signals without a stop request lower confidence below the automation threshold', () => {
    const r = classifyReplyIntent('Sounds great, but this is spam');
    assert.equal(r.isClear, false);
    assert.equal(r.stopRequested, false);
    assert.equal(r.matches.length, 2);
  });

  it('extra rules extend the defaults; rules replace them', () => {
    const extra = [{ id: 'sv.unsub', intent: 'unsubscribe_request' as const, weight: 1, patterns: ['avregistrera'] }];
    assert.equal(classifyReplyIntent('Snälla avregistrera mig').intent, 'other');
    assert.equal(createIntentClassifier(extra)('Snälla avregistrera mig').matchedRule?.ruleId, 'sv.unsub');
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

/** Explicit requests to stop, in several languages; each must win whatever else the reply says. */
const STOP_PHRASES = [
  'please remove me from this list',
  'Unsubscribe me.',
  'take me off your mailing list',
  'stop emailing me',
  'Please stop sending me these',
  'do not contact me again',
  'leave me alone',
  'Bitte abmelden',
  'Entfernen Sie mich bitte aus dem Verteiler',
  'Keine E-Mails mehr, danke',
  'Je souhaite me désinscrire',
  'Merci de me retirer de votre liste',
  'Por favor, darme de baja',
  'No quiero recibir más correos',
  'Graag afmelden voor deze nieuwsbrief',
  'Cancellami dalla lista',
  'Quero descadastrar meu e-mail',
];
/** Other things a reply may say alongside: praise, interest, complaints, absence, redirection. */
const OTHER_SENTENCES = [
  'I never signed up for this',
  'This is spam',
  'How did you get my address',
  'Sounds great',
  'I am interested in the pricing',
  'Tell me more',
  'I am out of the office until Monday',
  'I have left the company',
  'I am not the right person',
  'Not interested',
  'No thanks',
  'Thanks',
  'Kein Interesse',
  "C'est du spam",
  'Nunca me suscribí',
];

describe('a request to stop is honoured whatever else the reply says', () => {
  const cases: Array<[string, 'unsubscribe_request' | 'complaint']> = [
    ['please remove me from this list. I never signed up for this.', 'complaint'],
    ['Stop spamming me and unsubscribe me now', 'complaint'],
    ['Sounds great, but please take me off this list.', 'unsubscribe_request'],
    ["I'm out of the office. Also, unsubscribe me.", 'unsubscribe_request'],
    ['Not interested please unsubscribe', 'unsubscribe_request'],
    ['I have left the company, remove me from your list', 'unsubscribe_request'],
    ['STOP.', 'unsubscribe_request'],
    ['Looks great, you can remove me from the list though', 'unsubscribe_request'],
    ['If you could remove me from the list that would be great', 'unsubscribe_request'],
    ['Ich habe mich nie angemeldet. Bitte abmelden!', 'complaint'],
    ["Je n'ai jamais demandé ça, désinscrire s'il vous plaît", 'unsubscribe_request'],
    ['Nunca me suscribí. Quiero darme de baja.', 'complaint'],
    ['Interessant, maar schrijf me uit', 'unsubscribe_request'],
  ];
  for (const [text, intent] of cases) {
    it(`${JSON.stringify(text.slice(0, 50))} → clear ${intent}`, () => {
      const r = classifyReplyIntent(text);
      assert.equal(r.intent, intent, JSON.stringify(r));
      assert.equal(r.isClear, true);
      assert.equal(r.stopRequested, true);
      assert.equal(r.confidence, 1);
    });
  }

  it('list-footer instructions an untrimmed quote may carry are no stop request', () => {
    for (const text of [
      'Sounds great!\n\nIf you no longer wish to receive these emails, unsubscribe here.',
      'Sounds great!\nTo unsubscribe, click the link below.',
      'Thanks!\nUnsubscribe | Manage preferences',
      'Interesting. Click here to opt out of future mailings.',
      'You can unsubscribe at any time.',
    ]) {
      assert.equal(classifyReplyIntent(text).stopRequested, false, text);
    }
  });

  it('a negated stop ("I don\'t want to unsubscribe") is no stop request', () => {
    for (const text of [
      "I don't want to unsubscribe, I love these",
      'Please do not remove me',
      'Bitte nicht abmelden',
      'Je ne veux pas me désinscrire',
      'I never meant to unsubscribe',
    ]) {
      const r = classifyReplyIntent(text);
      assert.equal(r.stopRequested, false, text);
      assert.notEqual(r.intent, 'unsubscribe_request', text);
    }
  });

  it('property: a stop phrase among any other sentences, in any order, is a clear stop', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...STOP_PHRASES),
        fc.array(fc.oneof(fc.constantFrom(...OTHER_SENTENCES), fc.string({ maxLength: 30 })), { maxLength: 5 }),
        fc.nat(),
        fc.constantFrom('. ', '.\n', '! ', '\n\n'),
        fc.boolean(),
        (stop, others, at, sep, upper) => {
          const parts = [...others];
          parts.splice(at % (parts.length + 1), 0, stop);
          const text = parts.join(sep);
          const r = classifyReplyIntent(upper ? text.toUpperCase() : text);
          assert.equal(r.stopRequested, true, text);
          assert.equal(r.isClear, true, text);
          assert.ok(r.intent === 'unsubscribe_request' || r.intent === 'complaint', text);
        },
      ),
    );
  });

  it('property: without a stop phrase nothing becomes a stop request', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...OTHER_SENTENCES), { maxLength: 6 }), (others) => {
        assert.equal(classifyReplyIntent(others.join('. ')).stopRequested, false);
      }),
    );
  });
});
