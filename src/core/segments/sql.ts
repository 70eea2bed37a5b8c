/**
 * Compiles a validated segment definition to one SQL boolean expression over a profile row
 * (alias `p`: contact_profiles, columns contact_id and attributes jsonb) for a full, set-wise
 * evaluation. Every value goes in as a parameter. Each leaf yields true or false, never null, so
 * `not` means what it means in predicate.ts; casts sit behind `case` guards, so a profile with an
 * odd value can never make the statement fail. The tables read: profile_click_tags,
 * profile_campaigns, list_members (migration 0022).
 */
import { boundKey, DATE_KEY_PATTERN, foldAscii } from './semantics.ts';
import { ANY_CLICK_TAG, type SegmentCondition } from './types.ts';

export interface CompiledSql {
  /** A boolean expression over `p`; parameters numbered from `firstParam`. */
  sql: string;
  params: unknown[];
}

/** `now` fixes the relative bounds; `firstParam` is the number the first parameter takes. */
export function compileSql(definition: SegmentCondition, options: { now: Date; firstParam?: number }): CompiledSql {
  const params: unknown[] = [];
  const first = options.firstParam ?? 1;
  const param = (v: unknown): string => {
    params.push(v);
    return `$${first + params.length - 1}`;
  };
  const sql = compile(definition, options.now.getTime(), param);
  return { sql, params };
}

type Param = (v: unknown) => string;

function compile(c: SegmentCondition, now: number, param: Param): string {
  if ('and' in c) return `(${c.and.map((x) => compile(x, now, param)).join(' and ')})`;
  if ('or' in c) return `(${c.or.map((x) => compile(x, now, param)).join(' or ')})`;
  if ('not' in c) return `(not ${compile(c.not, now, param)})`;
  if ('inList' in c) {
    const list = param(c.inList);
    return `exists (select 1 from list_members m where m.list_id = ${list}::text and m.contact_id = p.contact_id)`;
  }
  if ('clicked' in c) {
    const cutoff = new Date(now - c.clicked.withinDays * 86_400_000);
    return (
      `exists (select 1 from profile_click_tags t where t.contact_id = p.contact_id`
      + ` and t.tag = ${param(c.clicked.tag ?? ANY_CLICK_TAG)}::text and t.last_at >= ${param(cutoff)}::timestamptz)`
    );
  }
  if ('opened' in c) {
    // newest sends first, ties by campaign id: the order lastCampaigns() uses (index profile_campaigns_recent)
    return (
      `((select count(*) filter (where s.opened) from (select pc.opened from profile_campaigns pc`
      + ` where pc.contact_id = p.contact_id order by pc.sent_at desc, pc.campaign_id desc`
      + ` limit ${param(c.opened.ofLast)}::int) s) >= ${param(c.opened.atLeast)}::int)`
    );
  }
  const key = param(c.attribute);
  const json = `(p.attributes -> ${key}::text)`;
  const text = `(p.attributes ->> ${key}::text)`;
  if ('equals' in c) return `coalesce(${json} = ${param(JSON.stringify(c.equals))}::jsonb, false)`;
  if ('in' in c) return `coalesce(${json} = any(${param(c.in.map((v) => JSON.stringify(v)))}::jsonb[]), false)`;
  if ('exists' in c) return `(coalesce(jsonb_typeof(${json}), 'null') ${c.exists ? '<>' : '='} 'null')`;
  if ('range' in c) {
    const bounds: string[] = [];
    const ops = { gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;
    for (const k of ['gt', 'gte', 'lt', 'lte'] as const) {
      const b = c.range[k];
      if (b !== undefined) bounds.push(`${json}::numeric ${ops[k]} ${param(String(b))}::numeric`);
    }
    return `(case when jsonb_typeof(${json}) = 'number' then ${bounds.join(' and ')} else false end)`;
  }
  if ('matches' in c) {
    const m = c.matches;
    const fold = m.ignoreCase === true;
    const subject = fold ? `lower(${text} collate "C")` : text;
    const needle = (s: string) => param(fold ? foldAscii(s) : s);
    let test: string;
    if (m.contains !== undefined) test = `strpos(${subject}, ${needle(m.contains)}::text) > 0`;
    else if (m.startsWith !== undefined) test = `starts_with(${subject}, ${needle(m.startsWith)}::text)`;
    else {
      const n = needle(m.endsWith ?? '');
      test = `right(${subject}, length(${n}::text)) = ${n}::text`;
    }
    return `(case when jsonb_typeof(${json}) = 'string' then ${test} else false end)`;
  }
  // only a JSON string's text can match the pattern (numbers have no dash after four digits, objects
  // and arrays start with a bracket), so no type guard is needed; no match is null, hence coalesce
  const { from, to, unit } = c.within;
  const dateKey = `(substring(${text} from ${param(DATE_KEY_PATTERN)}::text) collate "C")`;
  const tests: string[] = [];
  if (from !== undefined) tests.push(`${dateKey} >= ${param(boundKey(now, from, unit))}::text`);
  if (to !== undefined) tests.push(`${dateKey} <= ${param(boundKey(now, to, unit))}::text`);
  return `coalesce(${tests.join(' and ')}, false)`;
}
