/**
 * SOQL text built from values Switchyard does not control (contact ids, emails, record ids): every
 * value goes through `quote`, which escapes what SOQL's string literal grammar treats specially,
 * so no value can end the literal and add a clause. Field names come from configuration and are
 * checked against the identifier grammar. Pure.
 */
import { SwitchyardError } from '../../../core/errors.ts';

/**
 * Longest request-URI we send: Salesforce answers 414 above about 16 000 characters, so a
 * look-up is split into several queries well before that.
 */
export const MAX_URI_CHARS = 15_000;
/** Values per IN list: beyond a few hundred the statement grows past what the query planner likes. */
export const MAX_IN_VALUES = 200;

/**
 * A SOQL string literal: backslash, quotes and control characters escaped (SOQL reference,
 * "Quoted String Escape Sequences").
 */
export function quote(value: string): string {
  const escaped = value.replace(/[\\'"\n\r\t\b\f]/g, (c) => {
    switch (c) {
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\t':
        return '\\t';
      case '\b':
        return '\\b';
      case '\f':
        return '\\f';
      default:
        return `\\${c}`;
    }
  });
  return `'${escaped}'`;
}

/** A field or object API name (Email, Account.Name, Switchyard_Tier__c); anything else is refused. */
export function field(name: string): string {
  if (!/^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$/.test(name))
    throw new SwitchyardError('VALIDATION_FAILED', `"${name}" is not a Salesforce field name`);
  return name;
}

/** A SOQL dateTime literal (unquoted, UTC); milliseconds only when the value has them. */
export function dateTime(d: Date): string {
  const iso = d.toISOString();
  return d.getUTCMilliseconds() === 0 ? `${iso.slice(0, 19)}Z` : iso;
}

/**
 * Splits `values` into IN lists so that each finished query, URL-encoded under `pathPrefix`,
 * stays under MAX_URI_CHARS and MAX_IN_VALUES. `build` turns one IN list (already quoted and
 * joined) into the whole statement.
 */
export function chunkIn(values: readonly string[], pathPrefix: string, build: (inList: string) => string): string[] {
  const out: string[] = [];
  let current: string[] = [];
  const uriLength = (list: string[]): number => pathPrefix.length + encodeURIComponent(build(list.join(','))).length;
  for (const v of values) {
    const q = quote(v);
    if (uriLength([q]) > MAX_URI_CHARS)
      throw new SwitchyardError('VALIDATION_FAILED', `a value is too long for a Salesforce query: ${v.slice(0, 40)}…`);
    if (current.length > 0 && (current.length >= MAX_IN_VALUES || uriLength([...current, q]) > MAX_URI_CHARS)) {
      out.push(build(current.join(',')));
      current = [];
    }
    current.push(q);
  }
  if (current.length > 0) out.push(build(current.join(',')));
  return out;
}
