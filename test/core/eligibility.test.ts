/**
 * Who may receive marketing email, per region of the default rule set (law.md §12): the
 * expectations are written from the table, not from the code, so a country moved between the
 * opt-in and opt-out lists, or a precedence swapped, fails here.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  checkEligibility,
  consentFromField,
  requiresConsent,
  type ConsentStatus,
  type EligibilityFacts,
} from '../../src/core/eligibility.ts';

/** §12 rows where B2C marketing email needs no prior consent: US (federal), Brazil (legitimate interest), Singapore. */
const OPT_OUT_REGIONS = ['US', 'BR', 'SG'];
const EU_EEA = [
  'AT',
  'BE',
  'BG',
  'HR',
  'CY',
  'CZ',
  'DK',
  'EE',
  'FI',
  'FR',
  'DE',
  'GR',
  'HU',
  'IE',
  'IT',
  'LV',
  'LT',
  'LU',
  'MT',
  'NL',
  'PL',
  'PT',
  'RO',
  'SK',
  'SI',
  'ES',
  'SE',
  'IS',
  'LI',
  'NO',
];
/** §12 rows that need consent (express or implied) besides the EU/EEA. */
const OTHER_OPT_IN = { UK: 'GB', Canada: 'CA', Australia: 'AU', Japan: 'JP' };
/** Not in the §12 table: "Unknown / other — treat as EU/UK". */
const NOT_LISTED = ['MX', 'IN', 'CH', 'CN', 'ZA', 'NZ', 'KR', 'AE', 'AR', 'XX'];

const uncontacted = (country: string | undefined) => checkEligibility(country === undefined ? {} : { country });

describe('eligibility per region (law.md §12)', () => {
  it('US, Brazil and Singapore: mailable without recorded consent, unless the person said no', () => {
    for (const country of OPT_OUT_REGIONS) {
      assert.equal(requiresConsent(country), false, country);
      assert.deepEqual(uncontacted(country), { eligible: true }, country);
      assert.deepEqual(
        checkEligibility({ country, consent: 'denied' }),
        { eligible: false, reason: 'consent:denied' },
        country,
      );
    }
  });

  it('EU/EEA: every member state needs recorded consent', () => {
    for (const country of EU_EEA) {
      assert.equal(requiresConsent(country), true, country);
      assert.deepEqual(
        uncontacted(country),
        { eligible: false, reason: `consent:required_in_${country.toLowerCase()}` },
        country,
      );
      assert.deepEqual(checkEligibility({ country, consent: 'granted' }), { eligible: true }, country);
    }
  });

  it('UK, Canada, Australia and Japan need recorded consent', () => {
    for (const [region, country] of Object.entries(OTHER_OPT_IN)) {
      assert.equal(requiresConsent(country), true, region);
      assert.deepEqual(
        uncontacted(country),
        { eligible: false, reason: `consent:required_in_${country.toLowerCase()}` },
        region,
      );
      assert.deepEqual(checkEligibility({ country, consent: 'granted' }), { eligible: true }, region);
    }
  });

  it('a country the table does not list, or no country at all, gets the strictest rule, and the reason says so', () => {
    for (const country of NOT_LISTED) {
      assert.equal(requiresConsent(country), true, country);
      assert.deepEqual(
        uncontacted(country),
        { eligible: false, reason: `consent:required_in_${country.toLowerCase()}:strictest_rule` },
        country,
      );
    }
    assert.equal(requiresConsent(undefined), true);
    assert.equal(requiresConsent(''), true);
    const unknown = { eligible: false, reason: 'consent:required_in_unknown:strictest_rule' };
    assert.deepEqual(uncontacted(undefined), unknown);
    assert.deepEqual(checkEligibility({ country: '' }), unknown);
  });

  it('a suppression wins over consent everywhere, and is reported before a denial', () => {
    for (const country of [...OPT_OUT_REGIONS, 'DE', 'GB', undefined]) {
      for (const consent of ['granted', 'denied', undefined] as const) {
        const facts = {
          suppressedReason: 'unsubscribed',
          ...(consent ? { consent } : {}),
          ...(country ? { country } : {}),
        };
        assert.deepEqual(
          checkEligibility(facts),
          { eligible: false, reason: 'suppressed:unsubscribed' },
          `${country} ${consent}`,
        );
      }
    }
  });
});

describe('eligibility properties', () => {
  const country = fc.oneof(
    fc.constantFrom(...OPT_OUT_REGIONS, ...EU_EEA, ...Object.values(OTHER_OPT_IN), ...NOT_LISTED),
    fc.stringMatching(/^[A-Z]{2}$/),
    fc.constant(undefined),
  );
  const consent = fc.constantFrom<ConsentStatus | undefined>('granted', 'denied', undefined);
  const suppressedReason = fc.option(fc.constantFrom('unsubscribed', 'complained', 'bounced_hard', 'manual'), {
    nil: undefined,
  });
  const facts = fc.record({ country, consent, suppressedReason }).map(
    (f): EligibilityFacts => ({
      ...(f.country === undefined ? {} : { country: f.country }),
      ...(f.consent === undefined ? {} : { consent: f.consent }),
      ...(f.suppressedReason === undefined ? {} : { suppressedReason: f.suppressedReason }),
    }),
  );

  it('the verdict is decided in order: suppression, denial, then consent or an opt-out country', () => {
    fc.assert(
      fc.property(facts, (f) => {
        const verdict = checkEligibility(f);
        if (f.suppressedReason !== undefined)
          return assert.deepEqual(verdict, { eligible: false, reason: `suppressed:${f.suppressedReason}` });
        if (f.consent === 'denied') return assert.deepEqual(verdict, { eligible: false, reason: 'consent:denied' });
        if (f.consent === 'granted') return assert.deepEqual(verdict, { eligible: true });
        const optOut = typeof f.country === 'string' && OPT_OUT_REGIONS.includes(f.country);
        assert.equal(verdict.eligible, optOut, `no consent recorded, country ${String(f.country)}`);
      }),
      { numRuns: 2000 },
    );
  });

  it('strictest wins: adding a suppression or a denial never makes someone eligible', () => {
    fc.assert(
      fc.property(facts, (f) => {
        if (checkEligibility(f).eligible) return;
        assert.equal(checkEligibility({ ...f, suppressedReason: 'manual' }).eligible, false);
        assert.equal(checkEligibility({ ...f, consent: 'denied' }).eligible, false);
      }),
    );
  });
});

describe('consentFromField', () => {
  it('reads the usual spellings of yes and no, and nothing else', () => {
    for (const v of [true, 'true', 'YES', ' y ', '1', 'granted', 'opted_in'])
      assert.equal(consentFromField(v), 'granted', String(v));
    for (const v of [false, 'false', 'No', 'n', '0', 'denied', 'opted_out'])
      assert.equal(consentFromField(v), 'denied', String(v));
    for (const v of [undefined, null, 1, 0, '', 'maybe', 'unknown', {}])
      assert.equal(consentFromField(v), undefined, String(v));
  });
});
