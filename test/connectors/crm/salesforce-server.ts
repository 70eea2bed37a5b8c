/**
 * A local Salesforce for tests (node:http), speaking the wire format the adapter meets in
 * production: the OAuth token endpoint (client_credentials and the JWT bearer grant, verified with
 * the connected app's public key), REST errors as `[{"message","errorCode"}]` (401
 * INVALID_SESSION_ID, 403 REQUEST_LIMIT_EXCEEDED), `Sforce-Limit-Info: api-usage=N/M` on every
 * answer, /query and /queryAll running the SOQL the adapter sends (a small evaluator: SELECT …
 * FROM … WHERE with AND/OR/parentheses, =, >, <, IN, string/boolean/dateTime literals with SOQL
 * escapes, date literals, ORDER BY, LIMIT) over Contact, Lead, Account, Opportunity and
 * OpportunityContactRole records, with nextRecordsUrl paging, sObject Collections PATCH with
 * per-record results, Task create/delete, and 414 for request-URIs over 16 384 characters.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createVerify } from 'node:crypto';

type Rec = Record<string, unknown> & { Id: string; IsDeleted: boolean; SystemModstamp: string; CreatedDate: string };

export interface SalesforceRequest {
  method: string;
  path: string;
  status: number;
  soql?: string;
  body?: unknown;
}

export interface SalesforceServer {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  username: string;
  requests: SalesforceRequest[];
  tokensIssued: number;
  /** Adds a record; returns its 18-char Id. */
  add(
    type: 'Contact' | 'Lead' | 'Account' | 'Opportunity' | 'OpportunityContactRole',
    fields: Record<string, unknown>,
    at?: Date,
  ): string;
  record(id: string): Rec | undefined;
  /** Sets fields and stamps the record at `at` (default now). */
  touch(id: string, fields: Record<string, unknown>, at?: Date): void;
  /** Moves the record to the recycle bin (IsDeleted = true, stamped now). */
  remove(id: string, at?: Date): void;
  /** Updates of this record fail with a per-record error carrying this message. */
  refuseUpdates(id: string, message: string): void;
  /** Invalidates every issued access token (the session timed out). */
  expireSessions(): void;
  /** Queries whose SOQL starts with `prefix`, after the next `skip` ones, answer 503 until cleared. */
  failQueries(prefix: string, skip: number): void;
  clearFailures(): void;
  /** Token requests are refused from now on (the connected app was revoked). */
  revokeApp(): void;
  /** The org's daily usage as the header reports it. */
  setUsage(used: number, max: number): void;
  usage(): { used: number; max: number };
  /** Query answers hold at most this many records before nextRecordsUrl. */
  batchSize: number;
  tasks: Map<string, Record<string, unknown>>;
  close(): Promise<void>;
}

/** Salesforce's rendering of datetimes: milliseconds and a +0000 offset. */
export function sfTime(d: Date): string {
  return d.toISOString().replace('Z', '+0000');
}

export async function startSalesforceServer(opts: {
  now: () => Date;
  publicKeyPem?: string;
}): Promise<SalesforceServer> {
  const records = new Map<string, Rec>();
  const refused = new Map<string, string>();
  const tasks = new Map<string, Record<string, unknown>>();
  const cursors = new Map<string, Record<string, unknown>[]>();
  const tokens = new Set<string>();
  const requests: SalesforceRequest[] = [];
  let seq = 0;
  let used = 0;
  let max = 100_000;
  let revoked = false;
  let failing: { prefix: string; skip: number } | undefined;
  const prefix = {
    Contact: '003',
    Lead: '00Q',
    Task: '00T',
    Account: '001',
    Opportunity: '006',
    OpportunityContactRole: '00K',
  } as const;
  const newId = (type: keyof typeof prefix): string => `${prefix[type]}5g00000${String(++seq).padStart(5, '0')}AAA`;

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const state: SalesforceServer = {
    baseUrl,
    clientId: '3MVG9test.client.id',
    clientSecret: 'test-client-secret',
    username: 'integration@example.com',
    requests,
    tokensIssued: 0,
    batchSize: 2000,
    tasks,
    add(type, fields, at) {
      const id = newId(type);
      const stamp = sfTime(at ?? opts.now());
      records.set(id, {
        attributes: { type, url: `/services/data/v62.0/sobjects/${type}/${id}` },
        HasOptedOutOfEmail: false,
        OwnerId: '0055g00000OWNER1AAA',
        ...(type === 'Lead' ? { IsConverted: false } : {}),
        ...fields,
        Id: id,
        IsDeleted: false,
        CreatedDate: stamp,
        SystemModstamp: stamp,
      });
      return id;
    },
    record: (id) => records.get(id),
    touch(id, fields, at) {
      Object.assign(records.get(id) as Rec, fields, { SystemModstamp: sfTime(at ?? opts.now()) });
    },
    remove(id, at) {
      Object.assign(records.get(id) as Rec, { IsDeleted: true, SystemModstamp: sfTime(at ?? opts.now()) });
    },
    refuseUpdates: (id, message) => void refused.set(id, message),
    expireSessions: () => tokens.clear(),
    failQueries(prefix, skip) {
      failing = { prefix, skip };
    },
    clearFailures() {
      failing = undefined;
    },
    revokeApp() {
      revoked = true;
      tokens.clear();
    },
    setUsage(u, m) {
      used = u;
      max = m;
    },
    usage: () => ({ used, max }),
    close: () => new Promise((r) => server.close(() => r())),
  };

  function send(res: ServerResponse, status: number, body: unknown, log: SalesforceRequest): void {
    log.status = status;
    requests.push(log);
    res.writeHead(status, {
      'content-type': 'application/json;charset=UTF-8',
      'sforce-limit-info': `api-usage=${used}/${max}`,
    });
    res.end(body === undefined ? '' : JSON.stringify(body));
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  function issueToken(res: ServerResponse, form: URLSearchParams, log: SalesforceRequest) {
    const refuse = (error: string, description: string) =>
      send(res, 400, { error, error_description: description }, log);
    if (revoked) return refuse('invalid_client', 'app must be installed into org');
    const grant = form.get('grant_type');
    if (grant === 'client_credentials') {
      if (form.get('client_id') !== state.clientId || form.get('client_secret') !== state.clientSecret)
        return refuse('invalid_client', 'invalid client credentials');
    } else if (grant === 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      const parts = (form.get('assertion') ?? '').split('.');
      if (parts.length !== 3 || opts.publicKeyPem === undefined) return refuse('invalid_grant', 'invalid assertion');
      const verifier = createVerify('RSA-SHA256');
      verifier.update(`${parts[0]}.${parts[1]}`);
      if (!verifier.verify(opts.publicKeyPem, Buffer.from(parts[2] as string, 'base64url')))
        return refuse('invalid_grant', 'invalid assertion');
      const claims = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString()) as Record<string, unknown>;
      if (claims.iss !== state.clientId) return refuse('invalid_client_id', 'client identifier invalid');
      if (claims.sub !== state.username) return refuse('invalid_grant', "user hasn't approved this consumer");
      if (claims.aud !== baseUrl) return refuse('invalid_grant', 'audience is invalid');
      if (typeof claims.exp !== 'number' || claims.exp * 1000 < opts.now().getTime())
        return refuse('invalid_grant', 'expired authorization code');
    } else return refuse('unsupported_grant_type', 'grant type not supported');
    const token = `00D5g000000TEST!AQ${++state.tokensIssued}`;
    tokens.add(token);
    send(
      res,
      200,
      {
        access_token: token,
        signature: 'c2lnbmF0dXJl',
        scope: 'api',
        instance_url: baseUrl,
        id: `${baseUrl}/id/00D5g000000TEST/0055g00000OWNER1AAA`,
        token_type: 'Bearer',
        issued_at: String(opts.now().getTime()),
      },
      log,
    );
  }

  function page(all: Record<string, unknown>[], log: SalesforceRequest, res: ServerResponse, kind: string): void {
    const first = all.slice(0, state.batchSize);
    const rest = all.slice(state.batchSize);
    const body: Record<string, unknown> = { totalSize: all.length, done: rest.length === 0, records: first };
    if (rest.length > 0) {
      const cursor = `01g5g00000CUR${String(++seq).padStart(5, '0')}-${state.batchSize}`;
      cursors.set(cursor, rest);
      body.nextRecordsUrl = `/services/data/v62.0/${kind}/${cursor}`;
    }
    send(res, 200, body, log);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', baseUrl);
    const text = await readBody(req);
    const log: SalesforceRequest = { method: req.method ?? 'GET', path: url.pathname, status: 0 };
    if ((req.url ?? '').length > 16_384) {
      log.status = 414;
      requests.push(log);
      res.writeHead(414);
      return void res.end();
    }
    if (url.pathname === '/services/oauth2/token' && req.method === 'POST')
      return issueToken(res, new URLSearchParams(text), log);
    const auth = req.headers.authorization ?? '';
    if (!tokens.has(auth.replace(/^Bearer /, '')))
      return send(res, 401, [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }], log);
    used += 1;
    if (used > max)
      return send(res, 403, [{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }], log);
    const path = url.pathname.replace(/^\/services\/data\/v\d+\.\d+/, '');
    try {
      const m = /^\/(query|queryAll)(?:\/([^/]+))?$/.exec(path);
      if (m && req.method === 'GET') {
        if (m[2] !== undefined) {
          const rest = cursors.get(m[2]);
          if (rest === undefined)
            return send(res, 400, [{ message: 'invalid query locator', errorCode: 'INVALID_QUERY_LOCATOR' }], log);
          cursors.delete(m[2]);
          return page(rest, log, res, m[1] as string);
        }
        const soql = url.searchParams.get('q') ?? '';
        if (failing !== undefined && soql.startsWith(failing.prefix) && failing.skip-- <= 0)
          return send(res, 503, [{ message: 'Service Unavailable', errorCode: 'SERVER_UNAVAILABLE' }], log);
        log.soql = soql;
        return page(runSoql(soql, [...records.values()], m[1] === 'queryAll'), log, res, m[1] as string);
      }
      if (path === '/composite/sobjects' && req.method === 'PATCH') {
        const body = JSON.parse(text) as { allOrNone?: boolean; records?: Record<string, unknown>[] };
        log.body = body;
        if ((body.records?.length ?? 0) > 200)
          return send(res, 400, [{ message: 'Maximum of 200 records allowed', errorCode: 'EXCEEDED_ID_LIMIT' }], log);
        const results = (body.records ?? []).map((input) => {
          const id = String(input.id);
          const rec = records.get(id);
          if (rec === undefined || rec.IsDeleted)
            return {
              id,
              success: false,
              errors: [{ statusCode: 'ENTITY_IS_DELETED', message: 'entity is deleted', fields: [] }],
            };
          const why = refused.get(id);
          if (why !== undefined)
            return {
              id,
              success: false,
              errors: [{ statusCode: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: why, fields: [] }],
            };
          const { attributes: _a, id: _i, ...values } = input;
          Object.assign(rec, values, { SystemModstamp: sfTime(opts.now()) });
          return { id, success: true, errors: [] };
        });
        return send(res, 200, results, log);
      }
      if (path === '/composite/sobjects' && req.method === 'DELETE') {
        // sObject Collections delete: ?ids=a,b (≤ 200) → one result per id, in order
        const ids = (url.searchParams.get('ids') ?? '').split(',').filter((x) => x !== '');
        if (ids.length > 200)
          return send(res, 400, [{ message: 'Maximum of 200 records allowed', errorCode: 'EXCEEDED_ID_LIMIT' }], log);
        const results = ids.map((id) => {
          const rec = records.get(id);
          if (rec === undefined || rec.IsDeleted)
            return {
              id,
              success: false,
              errors: [{ statusCode: 'ENTITY_IS_DELETED', message: 'entity is deleted', fields: [] }],
            };
          Object.assign(rec, { IsDeleted: true, SystemModstamp: sfTime(opts.now()) });
          return { id, success: true, errors: [] };
        });
        return send(res, 200, results, log);
      }
      const one = /^\/sobjects\/Contact\/([^/]+)$/.exec(path);
      if (one && req.method === 'PATCH') {
        // update one record: 204 without a body; 404 when gone; 400 with the validation error
        const id = decodeURIComponent(one[1] as string);
        const rec = records.get(id);
        if (rec === undefined || rec.IsDeleted)
          return send(res, 404, [{ message: 'The requested resource does not exist', errorCode: 'NOT_FOUND' }], log);
        const body = JSON.parse(text) as Record<string, unknown>;
        log.body = body;
        const why = refused.get(id);
        if (why !== undefined)
          return send(res, 400, [{ message: why, errorCode: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', fields: [] }], log);
        Object.assign(rec, body, { SystemModstamp: sfTime(opts.now()) });
        return send(res, 204, undefined, log);
      }
      if (path === '/sobjects/Task' && req.method === 'POST') {
        const id = newId('Task');
        tasks.set(id, JSON.parse(text) as Record<string, unknown>);
        return send(res, 201, { id, success: true, errors: [] }, log);
      }
      const del = /^\/sobjects\/Task\/([^/]+)$/.exec(path);
      if (del && req.method === 'DELETE') {
        tasks.delete(decodeURIComponent(del[1] as string));
        return send(res, 204, undefined, log);
      }
      return send(res, 404, [{ message: 'The requested resource does not exist', errorCode: 'NOT_FOUND' }], log);
    } catch (err) {
      return send(res, 400, [{ message: (err as Error).message, errorCode: 'MALFORMED_QUERY' }], log);
    }
  }

  return state;
}

// ---- a small SOQL evaluator: enough grammar for what the adapter sends, strict about the rest ----

type Token = { t: 'id' | 'str' | 'num' | 'op' | 'dt'; v: string };

export function tokenize(soql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < soql.length) {
    const c = soql[i] as string;
    if (/\s/.test(c)) i += 1;
    else if (c === "'") {
      let v = '';
      i += 1;
      for (;;) {
        if (i >= soql.length) throw new Error('unterminated string literal');
        const ch = soql[i] as string;
        if (ch === '\\') {
          const n = soql[i + 1];
          const esc: Record<string, string> = {
            n: '\n',
            r: '\r',
            t: '\t',
            b: '\b',
            f: '\f',
            "'": "'",
            '"': '"',
            '\\': '\\',
          };
          if (n === undefined || esc[n] === undefined) throw new Error(`invalid escape \\${n}`);
          v += esc[n];
          i += 2;
        } else if (ch === "'") {
          i += 1;
          break;
        } else {
          v += ch;
          i += 1;
        }
      }
      out.push({ t: 'str', v });
    } else if (/\d/.test(c)) {
      // a dateTime literal, or a date literal (yyyy-mm-dd, for date fields such as CloseDate)
      const m =
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)/.exec(soql.slice(i))
        ?? /^\d{4}-\d\d-\d\d(?![\dT])/.exec(soql.slice(i));
      if (m) {
        out.push({ t: 'dt', v: m[0] });
        i += m[0].length;
      } else {
        const n = /^\d+(\.\d+)?/.exec(soql.slice(i)) as RegExpExecArray;
        out.push({ t: 'num', v: n[0] });
        i += n[0].length;
      }
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(soql.slice(i)) as RegExpExecArray;
      out.push({ t: 'id', v: m[0] });
      i += m[0].length;
    } else {
      const m = /^(>=|<=|!=|[=<>(),])/.exec(soql.slice(i));
      if (!m) throw new Error(`unexpected character ${c}`);
      out.push({ t: 'op', v: m[0] });
      i += m[0].length;
    }
  }
  return out;
}

type Pred = (r: Rec) => boolean;

function compare(a: unknown, b: unknown, field: string): number {
  if (a === null || a === undefined) return b === null ? 0 : -1;
  if (field === 'SystemModstamp' || field === 'CreatedDate' || field.endsWith('_At__c'))
    return new Date(String(a).replace(/([+-]\d\d)(\d\d)$/, '$1:$2')).getTime() - new Date(String(b)).getTime();
  if (typeof a === 'boolean' || typeof a === 'number') return a === b ? 0 : (a as number) < (b as number) ? -1 : 1;
  // text comparison: case-insensitive except for record ids, as in Salesforce
  const x = field === 'Id' ? String(a) : String(a).toLowerCase();
  const y = field === 'Id' ? String(b) : String(b).toLowerCase();
  return x === y ? 0 : x < y ? -1 : 1;
}

function runSoql(soql: string, all: Rec[], includeDeleted: boolean): Record<string, unknown>[] {
  const toks = tokenize(soql);
  let p = 0;
  const peek = (): Token | undefined => toks[p];
  const kw = (w: string): boolean => peek()?.t === 'id' && peek()?.v.toUpperCase() === w;
  const expect = (v: string): void => {
    const tok = toks[p++];
    if (tok?.v.toUpperCase() !== v) throw new Error(`expected ${v} at ${tok?.v ?? 'end'}`);
  };
  const ident = (): string => {
    const tok = toks[p++];
    if (tok?.t !== 'id') throw new Error(`expected a field at ${tok?.v ?? 'end'}`);
    return tok.v;
  };
  const literal = (): unknown => {
    const tok = toks[p++];
    if (tok === undefined) throw new Error('expected a value');
    if (tok.t === 'str' || tok.t === 'dt') return tok.v;
    if (tok.t === 'num') return Number(tok.v);
    if (tok.t === 'id' && /^(true|false)$/i.test(tok.v)) return tok.v.toLowerCase() === 'true';
    if (tok.t === 'id' && tok.v.toLowerCase() === 'null') return null;
    throw new Error(`unexpected ${tok.v}`);
  };
  expect('SELECT');
  const fields = [ident()];
  while (peek()?.v === ',') {
    p += 1;
    fields.push(ident());
  }
  expect('FROM');
  const object = ident();
  const atom = (): Pred => {
    if (peek()?.v === '(') {
      p += 1;
      const inner = orExpr();
      expect(')');
      return inner;
    }
    const f = ident();
    const op = toks[p++]?.v.toUpperCase();
    if (op === 'IN') {
      expect('(');
      const values = [literal()];
      while (peek()?.v === ',') {
        p += 1;
        values.push(literal());
      }
      expect(')');
      return (r) => values.some((v) => compare(r[f], v, f) === 0);
    }
    const v = literal();
    if (f === 'Id' && !(typeof v === 'string' && /^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$/.test(v)))
      throw new Error(`invalid ID field: ${String(v)}`);
    const cmp: Record<string, (n: number) => boolean> = {
      '=': (n) => n === 0,
      '!=': (n) => n !== 0,
      '>': (n) => n > 0,
      '<': (n) => n < 0,
      '>=': (n) => n >= 0,
      '<=': (n) => n <= 0,
    };
    const test = cmp[op ?? ''];
    if (test === undefined) throw new Error(`unknown operator ${op}`);
    return (r) => test(compare(r[f], v, f));
  };
  const andExpr = (): Pred => {
    const parts = [atom()];
    while (kw('AND')) {
      p += 1;
      parts.push(atom());
    }
    return (r) => parts.every((x) => x(r));
  };
  function orExpr(): Pred {
    const parts = [andExpr()];
    while (kw('OR')) {
      p += 1;
      parts.push(andExpr());
    }
    return (r) => parts.some((x) => x(r));
  }
  let where: Pred = () => true;
  if (kw('WHERE')) {
    p += 1;
    where = orExpr();
  }
  const order: string[] = [];
  if (kw('ORDER')) {
    p += 1;
    expect('BY');
    order.push(ident());
    while (peek()?.v === ',') {
      p += 1;
      order.push(ident());
    }
  }
  let limit = Number.POSITIVE_INFINITY;
  if (kw('LIMIT')) {
    p += 1;
    limit = Number(literal());
  }
  if (p !== toks.length) throw new Error(`unexpected ${toks[p]?.v}`);
  const hits = all.filter(
    (r) => (r.attributes as { type: string }).type === object && (includeDeleted || !r.IsDeleted) && where(r),
  );
  hits.sort((a, b) => {
    for (const f of order) {
      const c = compare(a[f], b[f] as unknown, f) || 0;
      if (f === 'SystemModstamp') {
        const d = Date.parse(String(a[f]).replace('+0000', 'Z')) - Date.parse(String(b[f]).replace('+0000', 'Z'));
        if (d !== 0) return d;
        continue;
      }
      if (c !== 0) return c;
    }
    return 0;
  });
  return hits.slice(0, limit).map((r) => {
    const out: Record<string, unknown> = { attributes: r.attributes };
    for (const f of fields) out[f] = r[f] ?? null;
    return out;
  });
}
