/**
 * One HTTP request to an ESP API, read to the end: a network failure or a body cut off midway is
 * ESP_UNAVAILABLE (retryable), never a vendor error. Status mapping stays in each vendor's
 * `*-errors.ts`, since only the vendor knows what its status codes mean.
 */
import { SwitchyardError } from '../../core/errors.ts';

export interface ProviderResponse { res: Response; text: string }

export async function callProvider(doFetch: typeof fetch, vendor: string, url: string, init: RequestInit, timeoutMs: number): Promise<ProviderResponse> {
  let res: Response;
  try {
    res = await doFetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new SwitchyardError('ESP_UNAVAILABLE', `${vendor} unreachable: ${(err as Error).message}`, { retryable: true, cause: err });
  }
  try {
    return { res, text: await res.text() };
  } catch (err) {
    throw new SwitchyardError('ESP_UNAVAILABLE', `${vendor} response was cut off: ${(err as Error).message}`, { retryable: true, cause: err, details: { status: res.status } });
  }
}
