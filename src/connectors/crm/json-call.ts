/**
 * A CRM's HTTP calls: one JSON request to its REST API with a bearer token and a timeout, and one
 * OAuth token request (below).
 *
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

/**
 * One OAuth token request: the form POSTed to the vendor's token endpoint with a timeout. A network
 * failure, timeout or 5xx is a retryable CRM_UNAVAILABLE naming the vendor; any other answer is the
 * caller's, its JSON body parsed (empty for a body that is not a JSON object, e.g. a proxy's page).
 */
export async function crmTokenRequest(
  doFetch: typeof fetch,
  vendor: string,
  request: { url: string; form: URLSearchParams; timeoutMs: number },
): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  let res: Response;
  let text: string;
  try {
    res = await doFetch(request.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: request.form.toString(),
      signal: AbortSignal.timeout(request.timeoutMs),
    });
    text = await res.text();
  } catch (err) {
    throw new SwitchyardError('CRM_UNAVAILABLE', `${vendor} token endpoint failed: ${(err as Error).message}`, {
      retryable: true,
      cause: err,
    });
  }
  if (res.status >= 500)
    throw new SwitchyardError('CRM_UNAVAILABLE', `${vendor} token endpoint answered ${res.status}`, {
      retryable: true,
      details: { status: res.status },
    });
  let body: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>;
  } catch {
    // reported by status
  }
  return { status: res.status, body, text };
}
