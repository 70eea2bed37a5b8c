/**
 * One SES API v2 request signed with AWS Signature V4 (`aws4`, time from the injected clock):
 * shared by the sending adapter and the suppression sink, so both sign and send the same way.
 */
import aws4 from 'aws4';
import { callProvider } from '../http-call.ts';

export interface SesEndpoint {
  /** The API's base URL (https://email.<region>.amazonaws.com, or a test server). */
  base: URL;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  fetch: typeof fetch;
}

function amzDate(d: Date): string {
  return d.toISOString().replace(/[:-]|\.\d{3}/g, '');
}

/** `path` is under the base URL's path (e.g. `/v2/email/outbound-emails`); `body` is JSON text. */
export async function sesCall(
  endpoint: SesEndpoint,
  request: { method: 'POST' | 'PUT'; path: string; body: string; now: Date; timeoutMs: number },
): Promise<Awaited<ReturnType<typeof callProvider>>> {
  const { base } = endpoint;
  const path = `${base.pathname.replace(/\/+$/, '')}${request.path}`;
  const signed = aws4.sign(
    {
      host: base.host,
      path,
      method: request.method,
      service: 'ses',
      region: endpoint.region,
      body: request.body,
      headers: { 'Content-Type': 'application/json', 'X-Amz-Date': amzDate(request.now) },
    },
    endpoint.credentials,
  );
  // fetch derives Host and Content-Length itself (the same values that were signed)
  const headers = Object.fromEntries(
    Object.entries(signed.headers ?? {})
      .filter(([k]) => !['host', 'content-length'].includes(k.toLowerCase()))
      .map(([k, v]) => [k, String(v)]),
  );
  return callProvider(
    endpoint.fetch,
    'SES',
    `${base.protocol}//${base.host}${path}`,
    { method: request.method, headers, body: request.body },
    request.timeoutMs,
  );
}
