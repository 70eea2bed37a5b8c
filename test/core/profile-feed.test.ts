/**
 * The warehouse profile feed definition: defaults, every problem named by path, and the config key
 * refused at start when it is bad or has no warehouse to poll.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config.ts';
import type { SwitchyardError } from '../../src/core/errors.ts';
import { parseProfileFeed } from '../../src/core/profile-feed.ts';

const good = { table: 'dw.people', mapping: { columns: { id: 'person_id', email: 'email' } } };

describe('profile feed definition', () => {
  it('fills the defaults: name, updated_at, the id column as key', () => {
    assert.deepEqual(parseProfileFeed(JSON.stringify(good)), {
      ok: true,
      spec: { name: 'warehouse', ...good, updatedAt: 'updated_at', key: 'person_id' },
    });
  });

  it('names every problem', () => {
    const r = parseProfileFeed(
      JSON.stringify({
        name: 'Bad Name',
        sql: 'select 1',
        table: 't',
        mapping: { columns: { id: 'x' } },
        updatedAt: 'a b',
        deletes: { sql: 'select 1', id: '1x' },
      }),
    );
    assert.deepEqual(r, {
      ok: false,
      problems: [
        'name must be lower-case letters, digits, - or _ (at most 63)',
        'exactly one of sql and table is required',
        'mapping.columns.email is required',
        'updatedAt must be a plain column name',
        'deletes.id must be a plain column name',
      ],
    });
    assert.deepEqual(parseProfileFeed('{'), { ok: false, problems: ['is not JSON'] });
  });

  it('reaches the profiles slice, and is refused without a warehouse URL', () => {
    const c = loadConfig({
      SWITCHYARD_PROFILE_FEED: JSON.stringify(good),
      SWITCHYARD_WAREHOUSE_URL: 'postgres://dw@127.0.0.1/dw',
      SWITCHYARD_PROFILE_FEED_LAG_MS: '0',
    });
    assert.equal(c.profiles.feed?.spec.table, 'dw.people');
    assert.deepEqual(
      [c.profiles.feed?.intervalMs, c.profiles.feed?.lagMs, c.profiles.feed?.batchSize],
      [5000, 0, 1000],
    );
    assert.equal(loadConfig({}).profiles.feed, undefined);
    const errors = (env: Record<string, string>): string[] => {
      try {
        loadConfig(env);
        return [];
      } catch (err) {
        return ((err as SwitchyardError).details as { errors: string[] }).errors;
      }
    };
    assert.deepEqual(errors({ SWITCHYARD_PROFILE_FEED: JSON.stringify(good) }), [
      'SWITCHYARD_PROFILE_FEED: needs SWITCHYARD_WAREHOUSE_URL',
    ]);
    assert.deepEqual(errors({ SWITCHYARD_PROFILE_FEED: '[]', SWITCHYARD_WAREHOUSE_URL: 'postgres://h/d' }), [
      'SWITCHYARD_PROFILE_FEED: must be a JSON object',
    ]);
  });
});
