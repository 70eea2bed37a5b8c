/**
 * Schema mapping: turns one warehouse row (column names + values) into a MappedContact or a
 * rejection reason naming the column. Pure apart from Intl look-ups (cached per process); shared
 * by every warehouse adapter so they reject the same rows for the same reasons. A mapping that
 * names a column the source lacks is fatal before streaming; a bad value only rejects its row.
 * Messages and reasons name only what the mapping names (its columns) and counts: never a source
 * header that is not mapped, never a cell value. A rejected row's values ride in `raw` instead,
 * because a message can end up in places a row should not (HTTP errors, status, logs).
 */
import { checkEmail } from '../../core/email-address.ts';
import { SwitchyardError } from '../../core/errors.ts';
import type { MappedContact, SchemaMapping } from './port.ts';

const OWN_PROPERTIES = new Set(['id', 'email', 'timezone', 'country', 'locale']);
const MAX_CACHE = 10_000;
// Canonical names per raw value, for every mapper of the process: a select step opens a new
// stream (and mapper) each time, and an Intl.DateTimeFormat per zone per step is not cheap.
const zones = new Map<string, string | null>();
const locales = new Map<string, string | null>();

/** Validates a mapping read from JSON configuration; throws VALIDATION_FAILED naming every problem. */
export function parseSchemaMapping(input: unknown): SchemaMapping {
  const problems: string[] = [];
  if (typeof input !== 'object' || input === null)
    throw new SwitchyardError('VALIDATION_FAILED', 'schema mapping must be an object with "columns"');
  const { columns, fields } = input as { columns?: unknown; fields?: unknown };
  if (typeof columns !== 'object' || columns === null || Array.isArray(columns)) {
    problems.push('"columns" must be an object of our name → source column');
  } else {
    for (const [key, value] of Object.entries(columns)) {
      if (typeof value !== 'string' || value.length === 0) problems.push(`"columns.${key}" must be a non-empty string`);
    }
    for (const required of ['id', 'email']) {
      if (!(required in columns)) problems.push(`"columns.${required}" is required`);
    }
  }
  if (fields !== undefined && (!Array.isArray(fields) || fields.some((f) => typeof f !== 'string' || f.length === 0))) {
    problems.push('"fields" must be an array of source column names');
  }
  if (problems.length > 0)
    throw new SwitchyardError('VALIDATION_FAILED', `invalid schema mapping: ${problems.join('; ')}`, {
      details: { problems },
    });
  return input as SchemaMapping;
}

export type RowOutcome = { ok: true; contact: MappedContact } | { ok: false; reason: string };

export interface RowMapper {
  /** Maps one row given as values in the order of the source's columns. */
  map(values: readonly unknown[]): RowOutcome;
  /** The row as a column → value object (for `rejected[].raw`). */
  toObject(values: readonly unknown[]): Record<string, unknown>;
  /** Whether the mapping refers to this source column (so a reason may name it). */
  maps(column: string): boolean;
}

/**
 * Binds a mapping to the source's column list. Throws WAREHOUSE_ROW_INVALID when the id or email
 * column is absent and VALIDATION_FAILED when another mapped column is absent.
 */
export function createRowMapper(
  mapping: SchemaMapping,
  sourceColumns: readonly string[],
  sourceLabel: string,
): RowMapper {
  const index = new Map<string, number>();
  sourceColumns.forEach((c, i) => {
    if (!index.has(c)) index.set(c, i);
  });
  const wanted = [...Object.values(mapping.columns), ...(mapping.fields ?? [])];
  const need = (column: string, code: 'WAREHOUSE_ROW_INVALID' | 'VALIDATION_FAILED', role: string): number => {
    const i = index.get(column);
    if (i === undefined) {
      // The source's own column names are its content (a file's first line): count them, never list them.
      const expected = wanted.map((c) => JSON.stringify(c)).join(', ');
      throw new SwitchyardError(
        code,
        `${sourceLabel} has no column "${column}" (mapped as ${role}); it has ${sourceColumns.length} `
          + `column${sourceColumns.length === 1 ? '' : 's'}, and the mapping expects ${expected}`,
        { details: { column, role, sourceColumnCount: sourceColumns.length, expected: wanted } },
      );
    }
    return i;
  };
  const { id: idCol, email: emailCol, timezone: tzCol, country: countryCol, locale: localeCol } = mapping.columns;
  const idAt = need(idCol, 'WAREHOUSE_ROW_INVALID', 'id');
  const emailAt = need(emailCol, 'WAREHOUSE_ROW_INVALID', 'email');
  const tzAt = tzCol === undefined ? undefined : need(tzCol, 'VALIDATION_FAILED', 'timezone');
  const countryAt = countryCol === undefined ? undefined : need(countryCol, 'VALIDATION_FAILED', 'country');
  const localeAt = localeCol === undefined ? undefined : need(localeCol, 'VALIDATION_FAILED', 'locale');
  const extra: [string, number][] = [];
  for (const [key, column] of Object.entries(mapping.columns)) {
    if (!OWN_PROPERTIES.has(key)) extra.push([key, need(column, 'VALIDATION_FAILED', key)]);
  }
  for (const column of mapping.fields ?? []) extra.push([column, need(column, 'VALIDATION_FAILED', 'field')]);

  return {
    toObject: (values) => Object.fromEntries(sourceColumns.map((c, i) => [c, values[i]])),
    maps: (column) => wanted.includes(column),
    map(values) {
      const id = textOf(values[idAt]);
      if (id === '') return { ok: false, reason: `column "${idCol}" (id) is empty` };
      const rawEmail = textOf(values[emailAt]);
      const emailProblem = checkEmail(rawEmail);
      if (emailProblem !== null) return { ok: false, reason: `column "${emailCol}" (email) ${emailProblem}` };
      const contact: MappedContact = { id, email: normaliseEmail(rawEmail), fields: {} };
      if (tzAt !== undefined && tzCol !== undefined) {
        const raw = textOf(values[tzAt]);
        if (raw !== '') {
          const zone = cached(zones, raw, canonicalZone);
          if (zone === null) return { ok: false, reason: `column "${tzCol}" (timezone) is not a known IANA time zone` };
          contact.timezone = zone;
        }
      }
      if (countryAt !== undefined && countryCol !== undefined) {
        const raw = textOf(values[countryAt]).toUpperCase();
        if (raw !== '') {
          if (!/^[A-Z]{2}$/.test(raw))
            return { ok: false, reason: `column "${countryCol}" (country) is not a two-letter ISO 3166 code` };
          contact.country = raw;
        }
      }
      if (localeAt !== undefined && localeCol !== undefined) {
        const raw = textOf(values[localeAt]).replace('_', '-');
        if (raw !== '') {
          const locale = cached(locales, raw, canonicalLocale);
          if (locale === null) return { ok: false, reason: `column "${localeCol}" (locale) is not a BCP 47 tag` };
          contact.locale = locale;
        }
      }
      for (const [key, at] of extra) contact.fields[key] = values[at] ?? null;
      return { ok: true, contact };
    },
  };
}

function textOf(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  return String(value).trim();
}

function normaliseEmail(email: string): string {
  const at = email.lastIndexOf('@');
  return `${email.slice(0, at)}@${email.slice(at + 1).toLowerCase()}`;
}

function cached(cache: Map<string, string | null>, key: string, compute: (k: string) => string | null): string | null {
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const value = compute(key);
  if (cache.size < MAX_CACHE) cache.set(key, value);
  return value;
}

function canonicalZone(zone: string): string | null {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

function canonicalLocale(tag: string): string | null {
  try {
    return Intl.getCanonicalLocales(tag)[0] ?? null;
  } catch {
    return null;
  }
}
