/**
 * The dashboard in real Chromium (Debian's package, driven by playwright-core) against a running
 * app on the demo workspace: log in with a key, create and preview the demo campaign, start it
 * from the page, pause and resume it, watch its progress reach 100 %, retry a dead letter and
 * dismiss a review item, each checked through the API afterwards. Every page is screenshotted
 * into test-results/dashboard/ (git-ignored) and checked with axe-core (no serious or critical
 * violations). Real clock: the browser polls on its own timers; waits are for page state, never
 * fixed sleeps.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import { pino } from 'pino';
import { demoCampaign } from '../../src/demo/campaign.ts';
import { createApp, type App } from '../../src/app.ts';
import { createConfiguredEsp } from '../../src/composition/esp.ts';
import type { Esp } from '../../src/connectors/esp/port.ts';
import { createConsumer, type Consumer } from '../../src/bus/consumer.ts';
import { loadConfig } from '../../src/config.ts';
import { SwitchyardError } from '../../src/core/errors.ts';
import { addReviewItems } from '../../src/reactions/review-queue.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createPgliteDb } from '../../src/store/pglite/adapter.ts';
import { findChromium } from './chromium.ts';

const SHOTS = 'test-results/dashboard';
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const log = pino({ level: 'silent' });
const WAIT = { timeout: 60_000 };

/** axe-core in the page; the serious and critical violations, as "id: help (n nodes)". */
async function axeProblems(page: Page): Promise<string[]> {
  // evaluated through the debugging protocol: the dashboard's CSP rightly refuses inline scripts
  await page.evaluate(`${AXE};0`);
  const violations = await page.evaluate(async () => {
    // the page's global axe, added above
    const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: unknown[] }> } }).axe;
    return (await axe.run()).violations as { id: string; impact: string; help: string; nodes: unknown[] }[];
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.length} nodes)`);
}

/** The ESP with every send waiting until `released` settles. */
function heldUntil(released: Promise<void>, esp: Esp): Esp {
  return {
    ...esp,
    send: async (msg) => {
      await released;
      return esp.send(msg);
    },
    sendBatch: async (messages, hooks) => {
      await released;
      return esp.sendBatch(messages, hooks);
    },
    close: () => esp.close(),
  };
}

const found = findChromium(process.env);
const executablePath = 'path' in found ? found.path : null;
const skipReason = 'reason' in found ? found.reason : '';

describe('dashboard in Chromium', () => {
  let app: App;
  let browser: Browser;
  let page: Page;
  let adminUrl: string;
  let key: string;
  let failing: Consumer;
  const pageErrors: string[] = [];
  let releaseSends: () => void = () => undefined;
  const sendsReleased = new Promise<void>((resolve) => {
    releaseSends = resolve;
  });

  const apiGet = async <T>(path: string): Promise<T> => {
    const res = await fetch(adminUrl + path, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(res.status, 200, `${path}: ${res.status}`);
    return (await res.json()) as T;
  };
  const shoot = async (name: string): Promise<void> => {
    for (const [label, width, height] of [
      ['desktop', 1280, 900],
      ['phone', 390, 844],
    ] as const) {
      await page.setViewportSize({ width, height });
      await page.screenshot({ path: `${SHOTS}/${name}-${label}.png`, fullPage: true });
      // the layout holds: nothing wider than the viewport except inside scrolling table wrappers
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `${name} at ${width}px overflows by ${overflow}px`);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  };
  /** A step that, when it fails, leaves a screenshot of what the page showed. */
  const step =
    (name: string, fn: (t: TestContext) => Promise<void>) =>
    async (t: TestContext): Promise<void> => {
      if (executablePath === null) return t.skip(skipReason);
      try {
        await fn(t);
      } catch (err) {
        await page?.screenshot({ path: `${SHOTS}/failed-${name}.png`, fullPage: true }).catch(() => undefined);
        throw err;
      }
    };
  const checkAccessibility = async (name: string): Promise<void> => {
    assert.deepEqual(await axeProblems(page), [], `${name}: axe-core serious/critical violations`);
  };

  before(async () => {
    if (executablePath === null) return;
    mkdirSync(SHOTS, { recursive: true });
    const db = await createPgliteDb({});
    await migrate(db);
    const config = loadConfig({
      PORT: '0',
      SWITCHYARD_ADMIN_PORT: '0',
      SWITCHYARD_INBOUND_SMTP_PORT: '0',
      SWITCHYARD_DEMO_SIZE: '1500',
      SWITCHYARD_TRACKING_SECRET: 'dashboard-browser-test',
      // the page polls several endpoints every 2 s next to this test's own API calls
      SWITCHYARD_RATE_LIMIT_ADMIN_PER_MIN: '0',
    });
    // The provider accepts nothing until the page has paused the campaign: on a loaded host the
    // page's first poll after Start may come later than a fast send would finish.
    app = await createApp(config, {
      db,
      log,
      esp: (d) => heldUntil(sendsReleased, createConfiguredEsp(config.esp, { ...d, log, db })),
    });
    ({ adminUrl } = await app.listen());
    app.startWorkers();
    ({ key } = await app.keys.create({ name: 'browser-test', role: 'admin' }, { by: 'test' }));
    // a stage that refuses its message: the dead letter the page retries
    failing = createConsumer(
      { bus: app.bus, clock: app.clock, log, metrics: app.metrics.consumer },
      { topic: 'test.dashboard', group: 'test-dashboard', maxAttempts: 1 },
      async () => {
        throw new SwitchyardError('VALIDATION_FAILED', 'refused by the test stage');
      },
    );
    await failing.runOnce();
    await app.bus.publish('test.dashboard', [{ id: 'dash-1', payload: { n: 1 } }]);
    await failing.runOnce();
    await addReviewItems(
      app.db,
      [
        {
          sourceId: 'dash-reply-1',
          contactId: 'c-1',
          campaignId: null,
          intent: 'question',
          confidence: 0.4,
          excerpt: 'Can you tell me more about the pricing?',
        },
      ],
      app.clock.now(),
    );
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  });

  after(async () => {
    releaseSends();
    await browser?.close();
    await app?.close();
    await app?.db.close();
  });

  it(
    'logs in with an API key and gets an HttpOnly SameSite session cookie',
    step('login', async () => {
      await page.goto(adminUrl);
      await page.getByLabel('API key').fill(key);
      await shoot('login');
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('heading', { name: 'System' }).waitFor();
      const cookie = (await page.context().cookies()).find((c) => c.name === 'sy_session');
      assert.ok(cookie);
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Strict');
      assert.equal(await page.evaluate(() => document.cookie), '', 'the page cannot read the session');
    }),
  );

  it(
    'System shows every group with health, charts and the table',
    step('system', async () => {
      await page.getByRole('table', { name: 'Topics and groups' }).getByText('test-dashboard').waitFor(WAIT);
      await page.locator('.tile', { hasText: 'Store' }).getByText('ok').waitFor(WAIT);
      assert.ok((await page.locator('.uplot').count()) >= 6, 'six uPlot charts');
      await checkAccessibility('system');
      await shoot('system');
    }),
  );

  it(
    'creates, previews, starts, pauses and resumes the demo campaign; progress reaches 100 %',
    step('campaign', async () => {
      await page.goto(`${adminUrl}/#/campaigns/~new`);
      await page.waitForFunction(() =>
        (document.querySelector('#definition') as HTMLTextAreaElement | null)?.value.includes('Demo'),
      );
      await checkAccessibility('campaign-new');
      await page.getByRole('button', { name: 'Create campaign' }).click();
      await page.waitForFunction(() => /^#\/campaigns\/cmp_/.test(location.hash));
      const id = decodeURIComponent((await page.evaluate(() => location.hash)).split('/')[2]!);
      const state = page.getByTestId('campaign-state');
      await state.getByText('State: draft').waitFor();

      await page.getByRole('button', { name: 'Preview' }).click();
      await page.getByText('Audience: 1,500 contacts').waitFor();
      await page.getByText(/Sample for contact/).waitFor();

      await page.getByRole('button', { name: 'Start' }).click();
      await state.getByText('State: running').waitFor(WAIT);
      await page.getByRole('button', { name: 'Pause' }).click();
      await state.getByText('State: paused').waitFor(WAIT);
      assert.equal((await apiGet<{ status: string }>(`/v1/campaigns/${id}`)).status, 'paused');
      releaseSends();
      await checkAccessibility('campaign-detail');
      await shoot('campaign-paused');
      await page.getByRole('button', { name: 'Resume' }).click();
      await state.getByText(/State: (running|completed)/).waitFor();
      assert.match((await apiGet<{ status: string }>(`/v1/campaigns/${id}`)).status, /running|completed/);

      await page
        .getByTestId('progress-text')
        .getByText(/^100 %/)
        .waitFor(WAIT);
      const s = await apiGet<{ campaign: { status: string; selected: number }; counts: Record<string, number> }>(
        `/v1/campaigns/${id}/status`,
      );
      assert.equal(s.campaign.selected, 1500);
      const handled = Object.entries(s.counts)
        .filter(([k]) => !['rendered', 'sending', 'retry'].includes(k))
        .reduce((n, [, v]) => n + v, 0);
      assert.equal(handled, 1500);
      await shoot('campaign-done');

      await page.goto(`${adminUrl}/#/campaigns`);
      await page.getByRole('table', { name: 'Campaigns' }).getByText(id).waitFor();
      await checkAccessibility('campaigns');
      await shoot('campaigns');

      // a campaign with an A/B test shows its cells
      const ab = await app.campaigns.create(
        demoCampaign({
          audience: { source: 'demo', size: 200, seed: 9 },
          abTest: {
            variants: [{ name: 'control' }, { name: 'short', subject: 'A quick update' }],
            testShare: 0.5,
            decideWithinHours: 24,
          },
        }),
      );
      await app.campaigns.start(ab.id);
      await page.goto(`${adminUrl}/#/campaigns/${encodeURIComponent(ab.id)}`);
      await page
        .getByTestId('ab-test-state')
        .getByText(/human clicks · test share 50%/)
        .waitFor(WAIT);
      await page.getByRole('table', { name: 'A/B test variants' }).getByText('short').waitFor(WAIT);
      await checkAccessibility('campaign-ab-test');
      await shoot('campaign-ab-test');
    }),
  );

  it(
    'Deliverability lists the provider with its rate',
    step('deliverability', async () => {
      await page.goto(`${adminUrl}/#/deliverability`);
      await page.getByRole('table', { name: 'Providers' }).getByText('sandbox').waitFor(WAIT);
      await checkAccessibility('deliverability');
      await shoot('deliverability');
    }),
  );

  it(
    'Reactions streams events and dismisses a review item',
    step('reactions', async () => {
      await page.goto(`${adminUrl}/#/reactions`);
      const events = page.getByRole('table', { name: 'Events' });
      await events.getByText('opened').first().waitFor(WAIT);
      await page.getByLabel('Type').selectOption('delivered');
      await events.getByRole('cell', { name: 'delivered', exact: true }).first().waitFor(WAIT);
      assert.equal(
        await events.getByRole('cell', { name: 'opened', exact: true }).count(),
        0,
        'the type filter applies',
      );
      const table = page.getByRole('table', { name: 'Review queue' });
      await table.getByText('Can you tell me more about the pricing?').waitFor();
      await checkAccessibility('reactions');
      await shoot('reactions');
      const items = await apiGet<{ items: { id: string }[] }>('/v1/review-items?status=open');
      const itemId = items.items[0]!.id;
      await page.getByRole('button', { name: `Dismiss item ${itemId}` }).click();
      await table.getByText('Can you tell me more about the pricing?').waitFor({ state: 'detached' });
      const resolved = await apiGet<{ items: { id: string; resolution: string; claimedBy: string | null }[] }>(
        '/v1/review-items?status=resolved',
      );
      assert.equal(resolved.items.find((i) => i.id === itemId)?.resolution, 'ignore');
    }),
  );

  it(
    'Dead letters: inspect the payload, retry from the page',
    step('dead-letters', async () => {
      await page.goto(`${adminUrl}/#/dead-letters`);
      const [dl] = (
        await apiGet<{ deadLetters: { id: number; stage: string }[] }>('/v1/dead-letters?stage=test-dashboard')
      ).deadLetters;
      assert.ok(dl);
      await page.getByRole('button', { name: `Inspect dead letter ${dl.id}` }).click();
      await page.getByLabel('Payload').getByText('"n": 1').waitFor();
      await checkAccessibility('dead-letters');
      await shoot('dead-letters');
      await page.getByRole('button', { name: `Retry dead letter ${dl.id}` }).click();
      await page.getByText(`Requeued: ${dl.id}`).waitFor();
      const after = await apiGet<{ deadLetters: { id: number; retriedAt: string | null }[] }>(
        '/v1/dead-letters?stage=test-dashboard&includeRetried=true',
      );
      assert.ok(after.deadLetters.find((d) => d.id === dl.id)?.retriedAt, 'the dead letter is marked retried');
      // the retry was audited as the key that logged in, through the dashboard
      const audit = await apiGet<{ entries: { action: string; actorName: string; target: Record<string, string> }[] }>(
        '/v1/audit?limit=50',
      );
      const row = audit.entries.find((e) => e.action === 'POST /v1/dead-letters/retry');
      assert.equal(row?.actorName, 'browser-test');
      assert.equal(row?.target.via, 'dashboard');
      assert.deepEqual(pageErrors, []);
    }),
  );

  it(
    'Lists: previews a definition, saves the list, and shows its members and history',
    step('lists', async () => {
      await app.profiles.applyChanges(
        ['us', 'us', 'de'].map((country, i) => ({
          changeId: `dash-${i}`,
          source: 'intake',
          contactId: `dash-c${i}`,
          attributes: { country },
          at: app.clock.now().toISOString(),
        })),
      );
      await page.goto(`${adminUrl}/#/lists/~new`);
      await page.getByLabel('Name', { exact: true }).fill('From the dashboard');
      await page.getByLabel('Id', { exact: true }).fill('dash-us');
      await page.getByLabel(/Segment definition/).fill('{"attribute":"country","equals":"us"}');
      await page.getByRole('button', { name: 'Preview audience' }).click();
      await page.getByTestId('list-preview').getByText('2', { exact: true }).waitFor(WAIT);
      await checkAccessibility('list-new');
      await shoot('list-new');
      await page.getByRole('button', { name: 'Save list' }).click();
      await page.waitForFunction(() => location.hash === '#/lists/dash-us');
      await page.getByTestId('list-members').getByText('2', { exact: true }).waitFor(WAIT);
      await page.getByRole('table', { name: 'Members' }).getByText('dash-c0').waitFor(WAIT);
      const list = await apiGet<{ kind: string; members: number }>('/v1/lists/dash-us');
      assert.deepEqual([list.kind, list.members], ['dynamic', 2]);
      await checkAccessibility('list');
      await shoot('list');
      await page.goto(`${adminUrl}/#/lists`);
      await page.getByRole('table', { name: 'Lists' }).getByText('From the dashboard').waitFor(WAIT);
      await shoot('lists');
    }),
  );

  it(
    "Journeys: a journey, where its runs are, and a contact's run history",
    step('journeys', async () => {
      const send = async (method: string, path: string, body: unknown): Promise<void> => {
        const res = await fetch(adminUrl + path, {
          method,
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        assert.ok(res.ok, `${path}: ${res.status} ${await res.text()}`);
      };
      await send('PUT', '/v1/journeys/dash-welcome', {
        name: 'Dashboard welcome',
        trigger: { type: 'manual' },
        from: { address: 'news@demo.example.com' },
        postalAddress: '1 Example Street, Springfield',
        start: 'settle',
        steps: [
          { id: 'settle', type: 'wait', duration: { days: 1 }, next: 'hello' },
          { id: 'hello', type: 'email', subject: 'Welcome', template: { text: 'Hello' } },
        ],
      });
      await send('POST', '/v1/journeys/dash-welcome/entries', {
        key: 'dash-1',
        contacts: [{ id: 'dash-c0', email: 'dash-c0@example.com' }],
      });
      await page.goto(`${adminUrl}/#/journeys`);
      await page.getByRole('table', { name: 'Journeys' }).getByText('Dashboard welcome').click();
      await page.getByTestId('journey-active').getByText('1', { exact: true }).waitFor(WAIT);
      await page.getByRole('table', { name: 'Steps' }).getByRole('cell', { name: 'settle' }).waitFor(WAIT);
      await page.getByLabel('Contact', { exact: true }).fill('dash-c0');
      await page.getByRole('button', { name: 'Show run history' }).click();
      await page
        .getByTestId('journey-history')
        .getByText(/dash-welcome v1 · active/)
        .waitFor(WAIT);
      await checkAccessibility('journey');
      await shoot('journey');
    }),
  );

  it(
    'Compliance: a data-subject request with its steps, and the consent ledger check',
    step('compliance', async () => {
      const res = await fetch(`${adminUrl}/v1/dsr`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          subject_request_id: 'dash-dsr-1',
          subject_request_type: 'erasure',
          subject_identities: [{ identity_type: 'email', identity_value: 'gone@example.com' }],
          jurisdiction: 'gdpr',
          submitted_time: app.clock.now().toISOString(),
          identity_verified: true,
        }),
      });
      assert.equal(res.status, 201);
      const { request_id: id } = (await res.json()) as { request_id: string };
      await page.goto(`${adminUrl}/#/compliance`);
      await page.getByRole('table', { name: 'Data-subject requests' }).getByText(id).click();
      await page.getByRole('table', { name: 'Steps' }).getByText('own-store').waitFor(WAIT);
      // the fan-out runs in the app's workers; the page follows it to the end
      await page.getByTestId('dsr-status').getByText('completed').waitFor(WAIT);
      await checkAccessibility('dsr');
      await shoot('dsr');
      await page.goto(`${adminUrl}/#/compliance`);
      await page.getByRole('button', { name: 'Verify the chain' }).click();
      await page
        .getByTestId('consent-verify')
        .getByText(/Consent ledger intact/)
        .waitFor(WAIT);
      await checkAccessibility('compliance');
      await shoot('compliance');
    }),
  );

  it(
    'Attribution: the report form, its chart and every model side by side',
    step('attribution', async () => {
      await page.goto(`${adminUrl}/#/attribution`);
      await page.getByTestId('att-conversions').waitFor(WAIT);
      await page.getByLabel('Model').selectOption('markov');
      await page.getByRole('button', { name: 'Show report' }).click();
      await page.getByText('markov by campaign').waitFor(WAIT);
      await page.getByRole('button', { name: 'Compare every model' }).click();
      await page.getByRole('table', { name: 'Net revenue by model' }).waitFor(WAIT);
      await checkAccessibility('attribution');
      await shoot('attribution');
      assert.deepEqual(pageErrors, []);
    }),
  );
});
