/**
 * The CLI's client for the admin API of a running server: JSON in and out, with the CLI's key as
 * `Authorization: Bearer`. The key comes from SWITCHYARD_API_KEY or, failing that, the key file
 * the server wrote on first start (DATA_DIR/admin-key); main.ts resolves both. Kept free of the
 * app's modules so commands that only talk to the server start at once.
 */
import { ApiError, CliError, EXIT } from './errors.ts';

export interface ApiTarget {
  /** Admin base URL, e.g. http://127.0.0.1:3001. */
  base: string;
  key: string | undefined;
  /** Where the key was looked for, named in the error when there is none. */
  keyHint: string;
}

/** The server did not answer at all (refused, DNS, timeout): exit 3, with what to do. */
export class UnreachableError extends CliError {
  readonly base: string;
  constructor(base: string, reason: string, options?: { cause?: unknown }) {
    super(
      `cannot reach the Switchyard admin API at ${base} (${reason}); the server may not be running: `
        + 'start it with `npm start`, or pass --url',
      EXIT.unreachable,
      options,
    );
    this.name = 'UnreachableError';
    this.base = base;
  }
}

function reasonOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused';
  if (cause?.code === 'ENOTFOUND') return 'unknown host';
  return cause?.code ?? cause?.message ?? (err as Error).message;
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
    throw new UnreachableError(target.base, reasonOf(err), { cause: err });
  }
  const json = (await res.json().catch(() => ({}))) as T & { error?: string; message?: string };
  if (res.status === 401 && target.key === undefined)
    throw new ApiError(401, 'UNAUTHENTICATED', `no API key: ${target.keyHint}`);
  if (!res.ok) throw new ApiError(res.status, json.error ?? String(res.status), json.message ?? res.statusText);
  return json;
}
