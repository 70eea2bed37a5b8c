/** Schema mapping: configuration validation and row mapping, examples plus a never-throws property. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkEmail } from '../../../src/core/email-address.ts';
import { createRowMapper, parseSchemaMapping } from '../../../src/connectors/warehouse/mapping.ts';

const MAPPING = parseSchemaMapping(
  JSON.parse(`{
  "columns": { "id": "customer_id", "email": "email_address", "firstName": "first_name",
               "timezone": "tz", "country": "country_code", "locale": "lang" },
  "fields": ["plan"]
}`),
);
const COLUMNS = ['customer_id', 'email_address', 'first_name', 'tz', 'country_code', 'lang', 'plan', 'ignored'];

test('mapping: a row becomes a contact with normalised properties and only mapped fields', () => {
  const mapper = createRowMapper(MAPPING, COLUMNS, 'test source');
  assert.deepEqual(mapper.map([42, ' Ann@Example.COM ', 'Ann', 'europe/berlin', 'de', 'de_DE', 'pro', 'secret']), {
    ok: true,
    contact: {
      id: '42',
      email: 'Ann@example.com',
      timezone: 'Europe/Berlin',
      country: 'DE',
      locale: 'de-DE',
      fields: { firstName: 'Ann', plan: 'pro' },
    },
  });
});

test('mapping: bad values reject the row with a reason naming the column', () => {
  const mapper = createRowMapper(MAPPING, COLUMNS, 'test source');
  const reason = (values: unknown[]): string => {
    const out = mapper.map(values);
    return out.ok ? 'accepted' : out.reason;
  };
  assert.equal(reason([null, 'a@example.com']), 'column "customer_id" (id) is empty');
  assert.equal(reason([1, null]), 'column "email_address" (email) is empty');
  assert.equal(reason([1, 'a@example']), 'column "email_address" (email) has an invalid domain');
  assert.equal(reason([1, 'a@@example.com']), 'column "email_address" (email) has an invalid local part');
  assert.equal(
    reason([1, 'a@example.com', '', 'Nowhere/City']),
    'column "tz" (timezone) is not a known IANA time zone',
  );
  assert.equal(
    reason([1, 'a@example.com', '', '', 'USA']),
    'column "country_code" (country) is not a two-letter ISO 3166 code',
  );
  assert.equal(reason([1, 'a@example.com', '', '', '', 'not a locale!']), 'column "lang" (locale) is not a BCP 47 tag');
});

test('mapping: a source lacking the id or email column is fatal, naming it', () => {
  assert.throws(
    () => createRowMapper(MAPPING, ['customer_id'], 'crm_export'),
    (err: { code: string; message: string }) =>
      err.code === 'WAREHOUSE_ROW_INVALID'
      && /crm_export has no column "email_address" \(mapped as email\)/.test(err.message),
  );
  assert.throws(
    () => createRowMapper(MAPPING, ['customer_id', 'email_address'], 'x'),
    (err: { code: string; message: string }) =>
      err.code === 'VALIDATION_FAILED' && /no column "tz" \(mapped as timezone\)/.test(err.message),
  );
});

test('mapping: a missing column names the count and the expected columns, never the source header', () => {
  const header = ['SECRET_KEY=abc123', 'DB_PASSWORD=hunter2', 'customer_id'];
  const err = (() => {
    try {
      createRowMapper(MAPPING, header, 'CSV file x.csv');
      return null;
    } catch (e) {
      return e as Error;
    }
  })();
  assert.ok(err !== null);
  assert.match(
    err.message,
    new RegExp(
      String.raw`has no column "email_address" \(mapped as email\); it has 3 columns`
        + ', and the mapping expects "customer_id", "email_address", "first_name", '
        + '"tz", "country_code", "lang", "plan"$',
    ),
  );
  assert.doesNotMatch(
    JSON.stringify({ message: err.message, details: (err as { details?: unknown }).details }),
    /abc123|hunter2|SECRET_KEY/,
  );
});

test('mapping: no rejection reason ever contains a cell value (property)', () => {
  const mapper = createRowMapper(MAPPING, COLUMNS, 'test source');
  // values tagged with a marker that no column name contains, so any echo is detectable
  const cell = fc.string({ maxLength: 12 }).map((s) => `§${s}`);
  fc.assert(
    fc.property(
      fc.array(fc.oneof(cell, fc.constant(''), fc.constant('a@example.com')), { minLength: 8, maxLength: 8 }),
      (values) => {
        const out = mapper.map(values);
        if (!out.ok) assert.ok(!out.reason.includes('§'), out.reason);
      },
    ),
    { numRuns: 500 },
  );
});

test('mapping: invalid configuration names every problem', () => {
  assert.throws(
    () => parseSchemaMapping({ columns: { email: 3 }, fields: 'plan' }),
    (err: { code: string; message: string }) =>
      err.code === 'VALIDATION_FAILED'
      && err.message.includes('"columns.email" must be a non-empty string')
      && err.message.includes('"columns.id" is required')
      && err.message.includes('"fields" must be an array'),
  );
  assert.throws(() => parseSchemaMapping(null), /must be an object/);
});

test('mapping: any row maps or is rejected with a column-naming reason, never throws', () => {
  const mapper = createRowMapper(MAPPING, COLUMNS, 'fuzz');
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.date({ noInvalidDate: true }), fc.emailAddress()),
        { maxLength: 9 },
      ),
      (values) => {
        const out = mapper.map(values);
        if (out.ok) assert.equal(checkEmail(out.contact.email), null);
        else assert.match(out.reason, /^column "[a-z_]+"/);
      },
    ),
  );
});
