/**
 * The external compliance system as a signed webhook: POST JSON with
 * `X-Switchyard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">` (the scheme Stripe
 * uses, so receivers know it) and `Idempotency-Key: <request id>`. A 2xx answer confirms; its
 * JSON may say `{"status":"nothing_found","reference":"…"}`.
 */
import { createHmac } from 'node:crypto';
import type { Clock } from '../../../clock/port.ts';
import { SwitchyardError } from '../../../core/errors.ts';
import type { ComplianceSystem } from '../port.ts';

export function createWebhookComplianceSystem(
  deps: { clock: Clock; fetch?: typeof fetch },
  options: { url: string; secret: string; timeoutMs?: number },
): ComplianceSystem {
  const doFetch = deps.fetch ?? fetch;
  return {
    name: 'compliance-webhook',
    async submit(req) {
      const body = JSON.stringify({
        request_id: req.requestId,
        type: req.type,
        subject: { emails: req.emails, subject_hash: req.subjectHash },
      });
      const t = String(Math.floor(deps.clock.now().getTime() / 1000));
      const sig = createHmac('sha256', options.secret).update(`${t}.${body}`).digest('hex');
      let res: Response;
      try {
        res = await doFetch(options.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-switchyard-signature': `t=${t},v1=${sig}`,
            'idempotency-key': req.requestId,
          },
          body,
          signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
        });
      } catch (err) {
        throw new SwitchyardError('COMPLIANCE_SINK_UNAVAILABLE', 'compliance system could not be reached', {
          retryable: true,
          cause: err,
        });
      }
      const text = await res.text();
      if (res.status === 429 || res.status >= 500)
        throw new SwitchyardError('COMPLIANCE_SINK_UNAVAILABLE', `compliance system answered ${res.status}`, {
          retryable: true,
          details: { status: res.status },
        });
      if (!res.ok)
        throw new SwitchyardError('COMPLIANCE_SINK_REJECTED', `compliance system refused (${res.status})`, {
          details: { status: res.status },
        });
      let parsed: { status?: unknown; reference?: unknown } = {};
      try {
        parsed = text === '' ? {} : (JSON.parse(text) as typeof parsed);
      } catch {
        parsed = {};
      }
      return {
        status: parsed.status === 'nothing_found' ? 'nothing_found' : 'confirmed',
        reference: typeof parsed.reference === 'string' ? parsed.reference.slice(0, 200) : null,
      };
    },
  };
}
