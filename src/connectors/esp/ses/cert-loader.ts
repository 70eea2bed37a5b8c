/**
 * Fetches the PEM at an SNS SigningCertURL for verify.ts. The URL has already passed the host
 * check (https, sns.<region>.amazonaws.com, .pem), so what is left to guard is the response: a
 * non-2xx answer, a redirect elsewhere, a body larger than any certificate and a server that
 * never answers are all errors (verify.ts turns them into WEBHOOK_SIGNATURE_INVALID). fetch and
 * the clock are injected, so tests run offline and time out on a manual clock.
 */
import type { Clock } from '../../../clock/port.ts';

/** The part of the Fetch API the loader uses (global fetch satisfies it). */
export type CertFetch = (
  url: string,
  init: { signal: AbortSignal; redirect: 'error' },
) => Promise<{
  ok: boolean;
  status: number;
  headers: { get(name: string): string | null };
  body: ReadableStream<Uint8Array> | null;
}>;

/** An SNS signing certificate is ~2 KB of PEM; 16 KB leaves room for a chain. */
export const DEFAULT_MAX_CERT_BYTES = 16 * 1024;
export const DEFAULT_CERT_TIMEOUT_MS = 5_000;

export function createSnsCertificateLoader(
  deps: { fetch: CertFetch; clock: Clock },
  options: { maxBytes?: number; timeoutMs?: number } = {},
): (certUrl: string) => Promise<string> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_CERT_BYTES;
  const timeoutMs = options.timeoutMs ?? DEFAULT_CERT_TIMEOUT_MS;
  return async (certUrl) => {
    const abort = new AbortController();
    const stopTimer = new AbortController();
    deps.clock.sleep(timeoutMs, stopTimer.signal).then(
      () => abort.abort(new Error(`no certificate within ${timeoutMs} ms`)),
      () => undefined,
    );
    try {
      const res = await deps.fetch(certUrl, { signal: abort.signal, redirect: 'error' });
      if (!res.ok) throw new Error(`certificate URL answered HTTP ${res.status}`);
      const declared = Number(res.headers.get('content-length') ?? NaN);
      if (declared > maxBytes) throw new Error(`certificate is ${declared} bytes, more than ${maxBytes}`);
      const text = await readCapped(res.body, maxBytes, abort.signal);
      if (!text.includes('-----BEGIN CERTIFICATE-----'))
        throw new Error('certificate URL did not return a PEM certificate');
      return text;
    } finally {
      stopTimer.abort();
    }
  };
}

/** Reads at most maxBytes (a missing or lying content-length must not let the body grow). */
async function readCapped(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
  signal: AbortSignal,
): Promise<string> {
  if (body === null) return '';
  const reader = body.getReader();
  const onAbort = (): void => {
    reader.cancel(signal.reason).catch(() => undefined);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('certificate fetch aborted');
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) throw new Error(`certificate is more than ${maxBytes} bytes`);
      chunks.push(value);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8');
}
