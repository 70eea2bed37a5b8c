/**
 * A local external compliance system (node:http): checks the Switchyard signature
 * (`t=…,v1=HMAC-SHA256(secret, "t.body")`), records each accepted request, answers 200 with a
 * reference (status nothing_found for addresses starting with `nobody-`), or 500 while
 * `failing` is set; bad signatures get 401. Optional latency (real time).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeComplianceSink {
  url: string;
  secret: string;
  received: { requestId: string; type: string; emails: string[] }[];
  refusedSignatures: number;
  failing: boolean;
  close(): Promise<void>;
}

export function checkSignature(secret: string, header: string | undefined, body: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  const want = createHmac('sha256', secret).update(`${m[1]}.${body}`).digest();
  return timingSafeEqual(want, Buffer.from(m[2]!, 'hex'));
}

export async function startFakeComplianceSink(options: { latencyMs?: number } = {}): Promise<FakeComplianceSink> {
  const state: Omit<FakeComplianceSink, 'url' | 'close'> = {
    secret: 'whsec_compliance_test',
    received: [],
    refusedSignatures: 0,
    failing: false,
  };
  const server = createServer(async (req, res) => {
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    const body = Buffer.concat(parts).toString('utf8');
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
    if (!checkSignature(state.secret, req.headers['x-switchyard-signature'] as string | undefined, body)) {
      state.refusedSignatures += 1;
      res.writeHead(401).end();
      return;
    }
    if (state.failing) {
      res.writeHead(500).end();
      return;
    }
    const json = JSON.parse(body) as { request_id: string; type: string; subject: { emails: string[] } };
    state.received.push({ requestId: json.request_id, type: json.type, emails: json.subject.emails });
    res.writeHead(200, { 'content-type': 'application/json' });
    // the far side holds nobody whose address starts with "nobody-"
    const none = json.subject.emails.every((e) => e.startsWith('nobody-'));
    res.end(
      JSON.stringify({ status: none ? 'nothing_found' : 'confirmed', reference: `ext-${state.received.length}` }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/dsr`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }) as FakeComplianceSink;
}
