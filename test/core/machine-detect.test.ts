import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { classifyClick, classifyOpen, isMachineOpen, isScannerClick } from '../../src/core/machine-detect.ts';

describe('isMachineOpen (esp.md §7)', () => {
  it('trusts the provider flag (SendGrid sg_machine_open)', () => {
    assert.deepEqual(classifyOpen({ providerSaysMachine: true }), { isMachine: true, reasons: ['provider-flag'] });
  });
  it('flags a bare Mozilla/5.0 from Apple space 17.0.0.0/8, not from elsewhere', () => {
    assert.equal(isMachineOpen({ userAgent: 'Mozilla/5.0', ip: '17.58.101.12' }), true);
    assert.equal(isMachineOpen({ userAgent: 'Mozilla/5.0', ip: '::ffff:17.1.2.3' }), true);
    assert.equal(isMachineOpen({ userAgent: 'Mozilla/5.0', ip: '203.0.113.9' }), false);
    assert.equal(
      isMachineOpen({ userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)', ip: '17.58.101.12' }),
      false,
    );
    assert.equal(isMachineOpen({ userAgent: 'Mozilla/5.0', ip: '170.1.2.3' }), false);
  });
  it("does NOT flag Gmail's image proxy: it fetches when the human opens", () => {
    assert.equal(
      isMachineOpen({
        userAgent: 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)',
        ip: '66.249.84.1',
        secondsSinceSend: 3600,
      }),
      false,
    );
  });
  it('flags an open within 60 s of sending as a prefetch', () => {
    assert.deepEqual(classifyOpen({ secondsSinceSend: 60 }).reasons, ['prefetch-soon-after-send']);
    assert.equal(isMachineOpen({ secondsSinceSend: 61 }), false);
  });
  it('property: an open with no signals is human; adding the provider flag always makes it machine', () => {
    fc.assert(
      fc.property(fc.string(), fc.ipV4(), fc.integer({ min: 61, max: 10_000_000 }), (ua, ip, secs) => {
        const base = { userAgent: `X ${ua}`, ip, secondsSinceSend: secs };
        assert.equal(isMachineOpen(base), false);
        assert.equal(isMachineOpen({ ...base, providerSaysMachine: true }), true);
      }),
    );
  });
});

describe('isScannerClick (esp.md §7)', () => {
  const human = {
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X)',
    ip: '203.0.113.9',
    secondsSinceSend: 3600,
  };
  it('a normal click an hour after sending is human', () => {
    assert.deepEqual(classifyClick(human), { isMachine: false, reasons: [] });
  });
  it('names each scanner signal', () => {
    const cases: [Parameters<typeof classifyClick>[0], string][] = [
      [{ ...human, secondsSinceSend: 10 }, 'click-soon-after-send'],
      [{ ...human, hasOpenedBefore: false }, 'click-before-open'],
      [{ ...human, otherLinksClickedWithin2s: 3 }, 'burst-of-links'],
      [{ ...human, method: 'head' }, 'head-request'],
      [{ ...human, isHoneypotLink: true }, 'honeypot-link'],
      [{ ...human, userAgent: 'Microsoft Office Protocol Discoverer; Safe Links' }, 'scanner-user-agent'],
      [{ ...human, userAgent: 'Mozilla/5.0 HeadlessChrome/120.0' }, 'scanner-user-agent'],
    ];
    for (const [signals, reason] of cases) assert.deepEqual(classifyClick(signals).reasons, [reason], reason);
    assert.equal(isScannerClick({ ...human, secondsSinceSend: 11, hasOpenedBefore: true }), false);
  });
  it('property: every reported reason makes the click machine, and no reason means human', () => {
    fc.assert(
      fc.property(
        fc.record({
          secondsSinceSend: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
          hasOpenedBefore: fc.option(fc.boolean(), { nil: undefined }),
          otherLinksClickedWithin2s: fc.option(fc.nat(5), { nil: undefined }),
          isHoneypotLink: fc.option(fc.boolean(), { nil: undefined }),
        }),
        (s) => {
          const v = classifyClick(s);
          assert.equal(v.isMachine, v.reasons.length > 0);
        },
      ),
    );
  });
});
