/** The SMTP adapter's commit window (pure): never more than its size, first come first served, close. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createCommitWindow } from '../../../../src/connectors/esp/smtp/commit-window.ts';

const closedError = (): Error => new Error('window closed');
const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await Promise.resolve();
};

describe('commit window', () => {
  it('holds at most its size, admits as many as fit, in arrival order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.constantFrom('enter', 'leave'), { maxLength: 60 }),
        async (size, ops) => {
          const w = createCommitWindow(size, closedError);
          const admitted: number[] = [];
          let entered = 0;
          let left = 0;
          for (const op of ops) {
            if (op === 'enter') {
              const n = entered++;
              void w.enter().then(() => {
                admitted.push(n);
              });
            } else if (admitted.length > left) {
              left++;
              w.leave();
            }
            await settle();
            const holding = admitted.length - left;
            assert.ok(holding <= size, `${holding} hold a slot of ${size}`);
            assert.equal(admitted.length, Math.min(entered, left + size), 'everyone who fits is admitted');
            assert.deepEqual(
              admitted,
              admitted.map((_, i) => i),
              'admitted in arrival order',
            );
            assert.equal(w.active(), holding);
          }
        },
      ),
    );
  });

  it('close rejects the waiting and every later enter, and lets the holders leave', async () => {
    const w = createCommitWindow(1, closedError);
    await w.enter();
    const waiting = w.enter();
    w.close();
    await assert.rejects(waiting, /window closed/);
    await assert.rejects(w.enter(), /window closed/);
    w.leave();
    assert.equal(w.active(), 0);
  });

  it('refuses a size that is not a positive integer', () => {
    assert.throws(() => createCommitWindow(0, closedError), /positive integer, got 0/);
  });
});
