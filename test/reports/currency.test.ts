/** Report definitions name their revenue currency, and the report prints amounts in its minor units. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReportData } from '../../src/reports/build.ts';
import { parseReportDefinitions } from '../../src/reports/definitions.ts';
import { reportBlocks } from '../../src/reports/render.ts';

const base = { name: 'weekly', cron: '0 7 * * 1', recipients: ['ceo@example.com'] };

describe('report currency', () => {
  it("defaults to the workspace's revenue currency, takes any case, refuses what is not a three-letter code", () => {
    const parsed = parseReportDefinitions(JSON.stringify([base, { ...base, name: 'yen', currency: 'JPY' }]));
    assert.ok(Array.isArray(parsed));
    assert.deepEqual(
      parsed.map((d) => d.currency),
      ['usd', 'jpy'],
    );
    const euro = parseReportDefinitions(JSON.stringify([base]), 'eur');
    assert.ok(Array.isArray(euro));
    assert.equal(euro[0]?.currency, 'eur');
    assert.equal(
      parseReportDefinitions(JSON.stringify([{ ...base, currency: 'yen!' }])),
      '#1: weekly: currency must be a three-letter ISO 4217 code',
    );
  });

  it('a zero-decimal currency is printed without cents', () => {
    const totals = {
      netMinor: 1_200_000,
      grossMinor: 1_250_000,
      refundedMinor: 50_000,
      attributedMinor: 600_000,
      conversions: 3,
      attributedConversions: 2,
      unattributedConversions: 1,
    };
    const data = {
      models: [{ totals }],
      channels: null,
      trend: [],
      anomalies: [],
      currency: 'jpy',
      otherCurrencies: [{ currency: 'usd', conversions: 2, netMinor: 12_345 }],
    };
    const [summary] = reportBlocks(data as unknown as ReportData, ['summary'], 10);
    assert.equal(summary?.lines[0], 'Net revenue 1,200,000 from 3 conversions (gross 1,250,000, refunded 50,000).');
    assert.match(summary?.lines[1] ?? '', /^Attributed to email: 600,000 from 2 conversions/);
    // conversions in another currency are named, not summed in
    assert.equal(summary?.lines[2], 'Not included: 2 conversions in USD (net 123.45 USD).');
  });
});
