/**
 * SOQL building: any value, quoted, reads back as exactly one string literal holding that value
 * (checked with the local Salesforce's tokenizer, which follows SOQL's escape rules), and IN-list
 * chunking keeps every value, in order, within the URI and list bounds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  chunkIn,
  dateTime,
  field,
  MAX_IN_VALUES,
  MAX_URI_CHARS,
  quote,
} from '../../../src/connectors/crm/salesforce/soql.ts';
import { tokenize } from './salesforce-server.ts';

test('soql: a quoted value is one string literal with the same text, whatever it holds', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (value) => {
      assert.deepEqual(tokenize(quote(value)), [{ t: 'str', v: value }]);
    }),
    { numRuns: 500 },
  );
  assert.deepEqual(tokenize(`X IN (${quote("a' OR Id != 'b")})`).length, 5);
});

test('soql: IN lists are chunked within the URI and list bounds, keeping every value in order', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ minLength: 1, maxLength: 400 }), { maxLength: 600 }), (values) => {
      const prefix = '/services/data/v62.0/query?q=';
      const chunks = chunkIn(values, prefix, (list) => `SELECT Id FROM Contact WHERE Email IN (${list})`);
      const back: string[] = [];
      for (const soql of chunks) {
        assert.ok(prefix.length + encodeURIComponent(soql).length <= MAX_URI_CHARS);
        const strings = tokenize(soql).filter((t) => t.t === 'str');
        assert.ok(strings.length <= MAX_IN_VALUES);
        back.push(...strings.map((t) => t.v));
      }
      assert.deepEqual(back, values);
    }),
    { numRuns: 100 },
  );
});

test('soql: field names and dateTime literals', () => {
  assert.equal(field('Switchyard_Tier__c'), 'Switchyard_Tier__c');
  assert.throws(() => field("Name' OR"), /not a Salesforce field name/);
  assert.equal(dateTime(new Date('2026-03-01T10:00:00Z')), '2026-03-01T10:00:00Z');
  assert.equal(dateTime(new Date('2026-03-01T10:00:00.123Z')), '2026-03-01T10:00:00.123Z');
});
