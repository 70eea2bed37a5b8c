/**
 * Non-RFC 3464 bounces (qmail, classic Exim, some ESPs and appliances): no delivery-status part,
 * only human text. Like sisimai's per-MTA text modules, this splits the body at the "copy of the
 * original message" marker, finds the failed addresses in the notice part in order, and takes the
 * text around each address as that recipient's diagnostic. Pure text handling.
 */

export interface TextBounceRecipient {
  recipient: string;
  diagnostic: string;
}
export interface TextBounceScan {
  recipients: TextBounceRecipient[];
  /** The human notice above the returned message. */
  notice: string;
  /** The returned copy (headers and maybe body) below the marker, if any. */
  returned: string | null;
}

const ORIGINAL_MARKER = new RegExp(
  [
    '^-+\\s*this is a copy of the message',
    '^-+\\s*below this line is a copy of the message',
    '^-+\\s*original message',
    '^-+\\s*the header of the original message',
    '^-+\\s*undelivered message',
    '^\\s*original message follows',
    '^-+\\s*returned message',
    '^\\s*-+ ?(the )?original message (headers )?(follows|is attached)',
  ].join('|'),
  'im',
);
const ADDRESS = /<?([a-z0-9!#$%&'*+/=?^_`{|}~.-]+@[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)>?/gi;

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Scans a text bounce; `exclude` lists addresses that are never the failed recipient (our own, the daemon). */
export function scanTextBounce(
  body: string,
  options: { exclude?: readonly string[]; failedRecipients?: readonly string[] } = {},
): TextBounceScan {
  const text = body.replace(/\r\n?/g, '\n');
  const marker = ORIGINAL_MARKER.exec(text);
  const notice = marker === null ? text : text.slice(0, marker.index);
  const returned =
    marker === null
      ? null
      : text
          .slice(marker.index + marker[0].length)
          .replace(/^[^\n]*\n/, '')
          .replace(/^\s+/, '');
  const excluded = new Set((options.exclude ?? []).map((a) => a.toLowerCase()));
  const isDaemon = (a: string): boolean => /^(mailer-daemon|postmaster|mail-daemon)@/i.test(a);

  // First occurrence of each distinct candidate address, in order.
  const firsts: Array<{ address: string; index: number }> = [];
  const seen = new Set<string>();
  for (const m of notice.matchAll(ADDRESS)) {
    // Exchange quotes addresses ('user@example.com'); a sentence may end right after one.
    const address = (m[1] ?? '').replace(/^'+/, '').replace(/['.]+$/, '');
    const key = address.toLowerCase();
    if (seen.has(key) || excluded.has(key) || isDaemon(address)) continue;
    seen.add(key);
    firsts.push({ address, index: m.index ?? 0 });
  }
  // X-Failed-Recipients (Exim, Gmail) is authoritative for who failed; the notice supplies the text.
  const failed = (options.failedRecipients ?? []).map((a) => a.trim()).filter((a) => a !== '');
  const chosen =
    failed.length > 0
      ? failed.map(
          (address) => firsts.find((f) => f.address.toLowerCase() === address.toLowerCase()) ?? { address, index: -1 },
        )
      : firsts;

  const recipients = chosen.map((entry) => {
    if (entry.index < 0) return { recipient: entry.address, diagnostic: oneLine(notice) };
    const nextIndexes = firsts.map((f) => f.index).filter((ix) => ix > entry.index);
    const end = nextIndexes.length > 0 ? Math.min(...nextIndexes) : notice.length;
    // The address itself (and qmail's "<addr>:") is not part of the diagnostic.
    const segment = notice.slice(entry.index, end).replace(/^<?[^\s>]+>?:?/, '');
    return { recipient: entry.address, diagnostic: oneLine(segment) };
  });
  return { recipients, notice: notice.trim(), returned };
}
