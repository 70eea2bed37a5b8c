/**
 * Field blocks of machine-readable report parts: `message/delivery-status` (RFC 3464: one
 * per-message block, then one block per recipient) and `message/feedback-report` (RFC 5965: one
 * block). Header syntax: case-insensitive names, folded continuation lines, blocks separated by
 * blank lines. Pure text handling; MIME decoding is mailparser's job before this.
 */

/** One block: lower-cased field name → every value in order of appearance. */
export type FieldBlock = Map<string, string[]>;

/** Splits a report part into field blocks, unfolding continuation lines. */
export function parseFieldBlocks(text: string): FieldBlock[] {
  const blocks: FieldBlock[] = [];
  let current: FieldBlock | null = null;
  let lastName: string | null = null;
  for (const line of text.replace(/\r\n?/g, '\n').split('\n')) {
    if (line.trim() === '') {
      current = null;
      lastName = null;
      continue;
    }
    if (/^[ \t]/.test(line) && current !== null && lastName !== null) {
      const values = current.get(lastName) ?? [];
      values[values.length - 1] = `${values[values.length - 1] ?? ''} ${line.trim()}`;
      continue;
    }
    const m = /^([!-9;-~]+)\s*:\s?(.*)$/.exec(line);
    if (m === null) continue; // not a field line: tolerated, as real MTAs emit stray text
    const name = (m[1] ?? '').toLowerCase();
    // Some MTAs omit the blank line between recipients: a second recipient starts a new block.
    const startsRecipient =
      current?.has('final-recipient') === true
      && (name === 'final-recipient' || (name === 'original-recipient' && current.has('action')));
    if (current === null || startsRecipient) {
      current = new Map();
      blocks.push(current);
    }
    lastName = name;
    const values = current.get(lastName) ?? [];
    values.push((m[2] ?? '').trim());
    current.set(lastName, values);
  }
  return blocks;
}

/** First value of a field, or undefined. */
export function field(block: FieldBlock | undefined, name: string): string | undefined {
  const v = block?.get(name.toLowerCase())?.[0];
  return v === undefined || v === '' ? undefined : v;
}

/** `rfc822; user@example.com` → `user@example.com` (strips the address type and angle brackets). */
export function stripAddressType(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const afterType = value.includes(';') ? value.slice(value.indexOf(';') + 1) : value;
  const address = afterType
    .trim()
    .replace(/^<(.*)>$/, '$1')
    .trim();
  return address === '' ? undefined : address;
}

/**
 * `smtp; 552-5.2.2 The email … 552-5.2.2 the recipient …` → `552 5.2.2 The email … the recipient …`:
 * drops the diagnostic type and the repeated reply codes of multi-line SMTP replies.
 */
export function cleanDiagnostic(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let text = value.trim();
  const typed = /^(smtp|x-[\w-]+|x-unix|x-postfix)\s*;\s*/i.exec(text);
  if (typed !== null) text = text.slice(typed[0].length);
  const first = /^([245]\d\d)[ -]([245]\.\d{1,3}\.\d{1,3})?\s*/.exec(text);
  if (first !== null) {
    const repeat =
      first[2] === undefined
        ? new RegExp(`\\s+${first[1]}-\\s*`, 'g')
        : new RegExp(`\\s+${first[1]}[ -]${first[2].replaceAll('.', '\\.')}\\s*`, 'g');
    const rest = text.slice(first[0].length).replace(repeat, ' ');
    text = `${first[1]}${first[2] === undefined ? '' : ` ${first[2]}`} ${rest}`;
  }
  return text.replace(/\s+/g, ' ').trim() || undefined;
}

/** `dns; mx.example.org` → `mx.example.org`. */
export function stripMtaType(value: string | undefined): string | undefined {
  return stripAddressType(value);
}
