/**
 * The geographic rule set, one country at a time, checked against law.md §12 as written (the
 * expectations restate the table, not the code): consent model and accepted bases, unsubscribe
 * deadline and unit, how long the mechanism must work, DSR deadline, and the strictest fallback for
 * an unknown or unlisted country. Then per-workspace overrides and their parser.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkEligibility } from '../../src/core/eligibility.ts';
import {
  DEFAULT_GEO_RULES,
  parseGeoOverrides,
  REGIONS,
  regionOf,
  resolveGeoRule,
  type GeoRuleOverrides,
} from '../../src/core/geo-rules.ts';

const rule = (cc: string | undefined) => resolveGeoRule(cc).rule;
const verdict = (country: string | undefined, consent?: 'granted' | 'denied', basis?: string) =>
  checkEligibility({
    ...(country === undefined ? {} : { country }),
    ...(consent ? { consent } : {}),
    ...(basis ? { basis } : {}),
  });

describe('law.md §12 per country', () => {
  it('US: opt-out, 10 business days, mechanism ≥ 30 days, ad label and postal address, CCPA 45 + 45 days', () => {
    const r = rule('US');
    assert.equal(r.consent, 'opt_out');
    assert.deepEqual(
      [r.unsubscribeDeadline, r.unsubscribeDeadlineUnit, r.unsubscribeWorksDays],
      [10, 'business_days', 30],
    );
    assert.deepEqual([r.dsrDeadlineDays, r.dsrExtensionDays], [45, 45]);
    assert.ok(r.senderIdentity.includes('physical_postal_address') && r.adLabel);
    assert.deepEqual(verdict('US'), { eligible: true });
    assert.deepEqual(verdict('US', 'denied'), { eligible: false, reason: 'consent:denied' });
  });

  it('Germany (EU): consent first; soft opt-in yes, implied EBR no; no fixed unsubscribe deadline; 1 month + 2', () => {
    const r = rule('DE');
    assert.equal(r.region, 'EU');
    assert.equal(r.consent, 'opt_in');
    assert.equal(r.unsubscribeDeadline, null);
    assert.equal(r.unsubscribeWorksDays, null);
    assert.deepEqual([r.dsrDeadlineDays, r.dsrExtensionDays], [30, 60]);
    assert.deepEqual(verdict('DE'), { eligible: false, reason: 'consent:required_in_de' });
    assert.deepEqual(verdict('DE', 'granted'), { eligible: true });
    assert.deepEqual(verdict('DE', 'granted', 'soft_opt_in'), { eligible: true });
    assert.deepEqual(verdict('DE', 'granted', 'implied_ebr'), {
      eligible: false,
      reason: 'consent:basis_implied_ebr_not_accepted_in_de',
    });
  });

  it('France, Norway (EEA) and Ireland follow the EU row', () => {
    for (const cc of ['FR', 'NO', 'IE', 'fr']) assert.equal(regionOf(cc), 'EU', cc);
  });

  it('UK (GB): consent first, soft opt-in accepted; 1 month + 2', () => {
    const r = rule('GB');
    assert.equal(r.region, 'UK');
    assert.deepEqual(r.acceptedBases, ['express', 'soft_opt_in']);
    assert.deepEqual([r.dsrDeadlineDays, r.dsrExtensionDays], [30, 60]);
    assert.deepEqual(verdict('GB', 'granted', 'soft_opt_in'), { eligible: true });
    assert.deepEqual(verdict('GB'), { eligible: false, reason: 'consent:required_in_gb' });
  });

  it('Canada: express or implied (EBR, inquiry); 10 business days; mechanism ≥ 60 days', () => {
    const r = rule('CA');
    assert.deepEqual(
      [r.unsubscribeDeadline, r.unsubscribeDeadlineUnit, r.unsubscribeWorksDays],
      [10, 'business_days', 60],
    );
    assert.deepEqual(verdict('CA', 'granted', 'implied_ebr'), { eligible: true });
    assert.deepEqual(verdict('CA', 'granted', 'implied_inquiry'), { eligible: true });
    assert.equal(verdict('CA', 'granted', 'soft_opt_in').eligible, false);
    assert.ok(r.senderIdentity.includes('mailing_address'));
  });

  it('Australia: express or inferred; 5 working days; mechanism ≥ 30 days', () => {
    const r = rule('AU');
    assert.deepEqual(
      [r.unsubscribeDeadline, r.unsubscribeDeadlineUnit, r.unsubscribeWorksDays],
      [5, 'working_days', 30],
    );
    assert.deepEqual(verdict('AU', 'granted', 'published_address'), { eligible: true });
    assert.deepEqual(verdict('AU'), { eligible: false, reason: 'consent:required_in_au' });
  });

  it('Brazil: a legal basis, legitimate interest included; DSR 15 days', () => {
    const r = rule('BR');
    assert.equal(r.consent, 'legal_basis');
    assert.equal(r.dsrDeadlineDays, 15);
    assert.deepEqual(verdict('BR'), { eligible: true });
    assert.deepEqual(verdict('BR', 'granted', 'legitimate_interest'), { eligible: true });
    assert.equal(verdict('BR', 'denied').eligible, false);
  });

  it('Singapore: opt-out for non-bulk, <ADV> label, 10 business days, mechanism ≥ 30 days', () => {
    const r = rule('SG');
    assert.equal(r.consent, 'opt_out');
    assert.equal(r.adLabel, true);
    assert.deepEqual(
      [r.unsubscribeDeadline, r.unsubscribeDeadlineUnit, r.unsubscribeWorksDays],
      [10, 'business_days', 30],
    );
    assert.deepEqual(verdict('SG'), { eligible: true });
  });

  it('Japan: consent first; business-transaction relationship and published addresses count', () => {
    assert.deepEqual(verdict('JP'), { eligible: false, reason: 'consent:required_in_jp' });
    assert.deepEqual(verdict('JP', 'granted', 'implied_ebr'), { eligible: true });
    assert.deepEqual(verdict('JP', 'granted', 'published_address'), { eligible: true });
  });

  it('unknown or unlisted: the strictest row (EU/UK consent, ≥ 60 days, every identity item, 30 days), said so', () => {
    for (const cc of [undefined, '', '  ', 'MX', 'XX', 'usa']) {
      const resolved = resolveGeoRule(cc);
      assert.equal(resolved.strictest, true, String(cc));
      assert.equal(resolved.rule.region, 'UNKNOWN');
    }
    const u = DEFAULT_GEO_RULES.UNKNOWN;
    assert.equal(u.consent, 'opt_in');
    assert.equal(u.unsubscribeWorksDays, 60);
    assert.equal(u.dsrDeadlineDays, 30);
    for (const region of REGIONS) {
      const r = DEFAULT_GEO_RULES[region];
      for (const item of r.senderIdentity) assert.ok(u.senderIdentity.includes(item), `${region} ${item}`);
      if (r.unsubscribeWorksDays !== null) assert.ok(u.unsubscribeWorksDays! >= r.unsubscribeWorksDays, region);
    }
    assert.deepEqual(verdict(undefined), { eligible: false, reason: 'consent:required_in_unknown:strictest_rule' });
    assert.deepEqual(verdict('MX'), { eligible: false, reason: 'consent:required_in_mx:strictest_rule' });
    assert.equal(verdict('MX', 'granted', 'implied_ebr').eligible, false);
  });

  it('strictest wins: whatever the country, the unknown row accepts no basis a known opt-in row refuses', () => {
    fc.assert(
      fc.property(fc.constantFrom('express', 'soft_opt_in', 'implied_ebr', 'published_address'), (basis) => {
        const unknownOk = verdict('ZZ', 'granted', basis).eligible;
        const euOk = verdict('DE', 'granted', basis).eligible;
        assert.ok(!unknownOk || euOk, basis);
      }),
    );
  });
});

describe('per-workspace overrides', () => {
  it('a country entry wins over its region entry; express always stays accepted', () => {
    const overrides = parseGeoOverrides(
      '{"EU": {"acceptedBases": ["express", "soft_opt_in", "legitimate_interest"]}, "de": {"acceptedBases": []}}',
    ) as GeoRuleOverrides;
    assert.equal(typeof overrides, 'object');
    const de = resolveGeoRule('DE', overrides);
    assert.equal(de.overriddenBy, 'DE');
    assert.deepEqual(de.rule.acceptedBases, ['express']);
    assert.equal(
      checkEligibility({ country: 'DE', consent: 'granted', basis: 'soft_opt_in' }, overrides).eligible,
      false,
    );
    assert.equal(
      checkEligibility({ country: 'FR', consent: 'granted', basis: 'legitimate_interest' }, overrides).eligible,
      true,
    );
    assert.equal(resolveGeoRule('US', overrides).overriddenBy, undefined);
  });

  it('a workspace can make a region stricter (US opt-in) or treat unknown countries differently', () => {
    const overrides = parseGeoOverrides(
      '{"US": {"consent": "opt_in"}, "UNKNOWN": {"consent": "opt_out"}}',
    ) as GeoRuleOverrides;
    assert.deepEqual(checkEligibility({ country: 'US' }, overrides), {
      eligible: false,
      reason: 'consent:required_in_us',
    });
    assert.deepEqual(checkEligibility({}, overrides), { eligible: true });
    assert.equal(resolveGeoRule(undefined, overrides).strictest, true);
  });

  it('bad overrides are named problems, never silently ignored', () => {
    assert.equal(parseGeoOverrides('nope'), 'is not valid JSON');
    assert.equal(parseGeoOverrides('[]'), 'must be a JSON object');
    assert.match(parseGeoOverrides('{"Europe": {}}') as string, /neither a region/);
    assert.match(parseGeoOverrides('{"US": {"consent": "maybe"}}') as string, /US.consent must be one of/);
    assert.match(parseGeoOverrides('{"US": {"unsubscribeDeadline": 3}}') as string, /not an overridable field/);
    assert.match(parseGeoOverrides('{"US": {"acceptedBases": ["vibes"]}}') as string, /acceptedBases/);
  });
});
