/**
 * The CLI's client for the admin API of a running server: JSON in and out, with the CLI's key as
 * `Authorization: Bearer`. The key comes from SWITCHYARD_API_KEY or, failing that, the key file
 * the server wrote on first start (DATA_DIR/admin-key); main.ts resolves both.
 */

export interface ApiTarget {
  /** Admin base URL, e.g. http://127.0.0.1:3001. */
  base: string;
  key: string | undefined;
  /** Where the key was looked for, named in the error when there is none. */
  keyHint: string;
}

/** One API call. Every non-GET request sends a JSON body (`{}` when there is nothing to say):
 *  the admin listener refuses state changes without Content-Type: application/json. */
export async function callApi<T>(target: ApiTarget, method: string, path: string, payload?: unknown): Promise<T> {
  const body = payload === undefined && method !== 'GET' && method !== 'HEAD' ? {} : payload;
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (target.key !== undefined) headers.authorization = `Bearer ${target.key}`;
  let res: Response;
  try {
    res = await fetch(`${target.base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new Error(
      `cannot reach the Switchyard admin API at ${target.base} (is \`npm start\` running?): ${(err as Error).message}`,
    );
  }
  const json = (await res.json().catch(() => ({}))) as T & { error?: string; message?: string };
  if (res.status === 401 && target.key === undefined) throw new Error(`UNAUTHENTICATED: no API key: ${target.keyHint}`);
  if (!res.ok) throw new Error(`${json.error ?? res.status}: ${json.message ?? res.statusText}`);
  return json;
}
