/**
 * One JSON request to a CRM's REST API with a bearer token and a timeout. A network failure or
 * timeout is a retryable CRM_UNAVAILABLE naming the vendor; the answer's status is the caller's.
 */
import { SwitchyardError } from '../../core/errors.ts';

export async function crmJsonCall(
  doFetch: typeof fetch,
  vendor: string,
  request: { method: string; url: string; path: string; token: string; body: unknown; timeoutMs: number },
): Promise<{ res: Response; text: string }> {
  const { method, path, body } = request;
  try {
    const res = await doFetch(request.url, {
      method,
      headers: {
        authorization: `Bearer ${request.token}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(request.timeoutMs),
    });
    return { res, text: await res.text() };
  } catch (err) {
    throw new SwitchyardError('CRM_UNAVAILABLE', `${vendor} ${method} ${path} failed: ${(err as Error).message}`, {
      retryable: true,
      cause: err,
    });
  }
}
