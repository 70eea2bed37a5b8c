/**
 * One HTTP request to an ESP API, read to the end: a network failure or a body cut off midway is
 * ESP_UNAVAILABLE (retryable), never a vendor error. Status mapping stays in each vendor's
 * `*-errors.ts`, since only the vendor knows what its status codes mean.
 */
import { SwitchyardError } from '../../core/errors.ts';

export interface ProviderResponse {
  res: Response;
  text: string;
}

export async function callProvider(
  doFetch: typeof fetch,
  vendor: string,
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<ProviderResponse> {
  let res: Response;
  try {
    res = await doFetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new SwitchyardError('ESP_UNAVAILABLE', `${vendor} unreachable: ${(err as Error).message}`, {
      retryable: true,
      cause: err,
    });
  }
  try {
    return { res, text: await res.text() };
  } catch (err) {
    throw new SwitchyardError('ESP_UNAVAILABLE', `${vendor} response was cut off: ${(err as Error).message}`, {
      retryable: true,
      cause: err,
      details: { status: res.status },
    });
  }
}

/** Retry-After as delay-seconds or an HTTP date, in ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: Date): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs)) return Math.max(0, Math.round(secs * 1000));
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}
