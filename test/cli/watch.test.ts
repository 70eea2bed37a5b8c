/**
 * The progress watcher outlives a server restart: the real CLI watches a local admin API that goes
 * away and comes back on the same port, says so in one line each way, and ends with the campaign.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';

const BIN = new URL('../../bin/switchyard.js', import.meta.url).pathname;

function statusBody(state: string): string {
  return JSON.stringify({
    campaign: { id: 'c1', status: state, statusReason: null, selected: 10, selectDone: true },
    counts: state === 'completed' ? { delivered: 10 } : { delivered: 4, waiting: 6 },
    ratePerSecond: 2,
    etaSeconds: state === 'completed' ? null : 3,
  });
}

async function serve(port: number, state: () => string): Promise<Server> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(req.url === '/v1/campaigns/c1/status' ? statusBody(state()) : '{}');
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return server;
}

const close = (s: Server): Promise<void> =>
  new Promise((r) => {
    s.close(() => r());
    s.closeAllConnections();
  });

describe('campaign watch', () => {
  it('retries while the server is down, says "reconnected", and finishes', async (t) => {
    let state = 'running';
    let server = await serve(0, () => state);
    const port = (server.address() as { port: number }).port;
    const child = spawn(
      process.execPath,
      [BIN, 'campaign', 'watch', 'c1', '--interval', '50', '--url', `http://127.0.0.1:${port}`],
      {
        env: { ...process.env, SWITCHYARD_API_KEY: 'sy_test' },
      },
    );
    t.after(() => {
      child.kill('SIGKILL');
      return close(server);
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const waitFor = (pattern: RegExp): Promise<void> =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(out)) {
            child.stdout.off('data', onData);
            resolve();
          }
        };
        const onData = (d: Buffer): void => {
          out += d.toString();
          check();
        };
        child.stdout.on('data', onData);
        child.once('exit', (code) => reject(new Error(`exited ${code} before ${pattern}: ${out}${err}`)));
        check();
      });
    const exited = new Promise<number | null>((r) => child.once('exit', r));

    await waitFor(/4\/10 running/);
    await close(server);
    await waitFor(/server unreachable at http:\/\/127\.0\.0\.1:\d+, retrying…\n/);
    server = await serve(port, () => state);
    await waitFor(/\nreconnected\n/);
    state = 'completed';
    await waitFor(/\ncompleted\n/);
    assert.equal(await exited, 0, err);
    assert.equal(out.match(/server unreachable/g)?.length, 1, 'said once, not per retry');
    assert.doesNotMatch(out + err, /\n\s+at /);
  });
});
