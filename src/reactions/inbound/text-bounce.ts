/**
 * Non-RFC 3464 bounces (qmail, classic Exim, some ESPs and appliances): no delivery-status part,
 * only human text. Like sisimai's per-MTA text modules, this splits the body at the "copy of the
 * original message" marker, finds the failed addresses in the notice part in order, and takes the
 * text around each address as that recipient's diagnostic. Pure text handling.
 */

export interface TextBounceRecipient {
  recipient: string;
  diagnostic: string;
  /** The first paragraph of text after the address: the narrowest evidence, tried first. */
  paragraph: string;
  /** The lines where the address is named again (a session transcript, a summary), next. */
  mentions: string;
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
    '^\\s*-+\\s*unsent message follows',
    '^\\s*-+\\s*(the )?header of (the )?original message',
    '^\\s*-+\\s*original message header',
    '^\\s*-+\\s*message header follows',
    '^\\s*the (first \\d+ lines of your )?original message follow',
    '^\\s*-+\\s*returned mail follows',
    '^\\s*-+\\s*(forwarded|enclosed) message',
  ].join('|'),
  'im',
);
const ADDRESS = /<?([a-z0-9!#$%&'*+/=?^_`{|}~.-]+@[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)>?/gi;
/** A header line of a quoted original ("To: list@…", "Message-ID: <…>"): its addresses are not the failed ones. */
const HEADER_NAMES =
  'from|to|cc|bcc|reply-to|sender|subject|message-id|in-reply-to|references|return-path|received|date|errors-to'
  + String.raw`|list-[\w-]+|x-[\w-]+|resent-[\w-]+|delivered-to|envelope-to`;
const HEADER_LINE = new RegExp(String.raw`^[ \t>]*(${HEADER_NAMES})\s*:`, 'i');
const SENDER_SIDE_LINE =
  /^[ \t>]*(from|sender|reply-to|return-path|message-id|in-reply-to|references|errors-to|resent-from)\s*:/i;
/** Sentences some MTAs print on every bounce, whatever the cause: they are not evidence. */
const BOILERPLATE = new RegExp(
  [
    // cPanel/Exim
    'the account or domain may not exist, they may be blacklisted, or missing the proper dns entries\\.?',
    // Postfix, sendmail, qmail, Exim preambles mentioning antivirus/antispam scanning
    '[^\\n]*(scanned|analy[sz]ed|checked) (by|with) [^\\n]*(antivirus|anti-virus|antispam|anti-spam)[^\\n]*',
    // sendmail: where the original came from ("from uucp@localhost", "from host [1.2.3.4]") names no recipient
    'the original message was received at [^\\n]*\\n[ \\t]*from [^\\n]*',
  ].join('|'),
  'gi',
);
/** Start of an inline copy of the original: two header lines in a row at the left margin. */
const INLINE_HEADERS = new RegExp(
  String.raw`^(?:>\s*)?(?:received|return-path|message-id|from|to|subject|date|mime-version|x-[\w-]+|delivered-to):`
    + String.raw`[^\n]*\n(?:[ \t][^\n]*\n)*(?:>\s*)?[\w-]+:`,
  'im',
);
/** Addresses that are never the failed recipient when a better one is present. */
function isWeak(address: string): boolean {
  const local = address.slice(0, address.lastIndexOf('@')).toLowerCase();
  return (
    /(^|[-.])(request|bounces?|owner|admin|unsubscribe|subscribe)$/.test(local)
    || /^(postmaster|abuse|mailer-daemon|root|noreply|no-reply)$/.test(local)
    || /[$]|^\d{8,}|^mailman\.|^[0-9a-f]{6,}\.[0-9a-f.]+$/.test(local)
  );
}
/** `SMTP=user@x`, `smtp:user@x`, `rfc822;user@x`, quotes, a final dot → `user@x`. */
function cleanAddress(raw: string): string {
  return raw
    .replace(/^(smtp|rfc822|sip)[=:;]/i, '')
    .replace(/^'+/, '')
    .replace(/['.]+$/, '');
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Each later line naming the address, with the line after it (sendmail's "<<< 550 5.1.1 <a@b>… User unknown"). */
function laterMentions(notice: string, address: string, from: number): string {
  const lower = notice.toLowerCase();
  const needle = address.toLowerCase();
  const lines: string[] = [];
  for (let at = lower.indexOf(needle, from); at >= 0; at = lower.indexOf(needle, at + needle.length)) {
    const start = notice.lastIndexOf('\n', at) + 1;
    const second = notice.indexOf('\n', notice.indexOf('\n', at) + 1);
    lines.push(notice.slice(start, second < 0 ? notice.length : second));
  }
  return oneLine(lines.join(' '));
}

/** Scans a text bounce; `exclude` lists addresses that are never the failed recipient (our own, the daemon). */
export function scanTextBounce(
  body: string,
  options: { exclude?: readonly string[]; failedRecipients?: readonly string[]; localDomain?: string } = {},
): TextBounceScan {
  // HTML notices (Exchange 5.5) indent their "To:"/"Cc:" lines with non-breaking spaces.
  const text = body.replace(/\r\n?/g, '\n').replace(/\u00a0/g, ' ');
  const marker = ORIGINAL_MARKER.exec(text);
  let notice = (marker === null ? text : text.slice(0, marker.index)).replace(BOILERPLATE, ' ');
  // No marker line: the copy of the original often starts with its header block.
  const inline = INLINE_HEADERS.exec(notice);
  if (inline !== null && ADDRESS.test(notice.slice(0, inline.index))) notice = notice.slice(0, inline.index);
  ADDRESS.lastIndex = 0;
  const returned =
    marker === null
      ? null
      : text
          .slice(marker.index + marker[0].length)
          .replace(/^[^\n]*\n/, '')
          .replace(/^\s+/, '');
  const excluded = new Set((options.exclude ?? []).map((a) => a.toLowerCase()));
  const isDaemon = (a: string): boolean => /^(mailer-daemon|postmaster|mail-daemon)@/i.test(a);

  // First occurrence of each distinct candidate address, in order. Addresses on header lines and
  // list-robot or message-id lookalikes count only when nothing better is there.
  const all: Array<{ address: string; index: number; weak: boolean }> = [];
  const seen = new Set<string>();
  for (const m of notice.matchAll(ADDRESS)) {
    const address = cleanAddress(m[1] ?? '');
    const key = address.toLowerCase();
    if (!address.includes('@') || seen.has(key) || excluded.has(key) || isDaemon(address)) continue;
    const index = m.index ?? 0;
    const lineStart = notice.lastIndexOf('\n', index) + 1;
    const before = notice.slice(lineStart, index);
    // Header lines of a quoted original, and the envelope sender in an SMTP transcript.
    const onHeaderLine = HEADER_LINE.test(before) || /mail from:\s*<?$/i.test(before);
    // The sender side of a quoted original (From:, Reply-To:, Message-ID:, MAIL FROM) is never a recipient,
    // nor is the sender a recipient refuses ("not accepting mail from <sender>").
    if (SENDER_SIDE_LINE.test(before) || /\bmail from:?\s*<?$/i.test(before)) continue;
    // A forwarding hint inside a diagnostic ("User has moved; please try <new@…>") names no recipient,
    // and sendmail's "(expanded from: <alias>)" is the address above it, not another recipient.
    if (
      /(please try|forwarded to|new address( is)?|contact|write to|send (it )?to|expanded from)[\s:]*<?$/i.test(before)
    ) {
      seen.add(key); // a transcript naming it again ("… to <alias>") does not make it a recipient either
      continue;
    }
    if (onHeaderLine && notice.indexOf(address, index + address.length) >= 0) continue; // named again below
    seen.add(key);
    all.push({ address, index, weak: onHeaderLine || isWeak(address) });
  }
  // AOL names its own users by screen name only ("…the following recipients…:\n\tscreenname"):
  // with no address in the notice, such bare names are local parts of the reporting domain.
  if (all.length === 0 && options.localDomain !== undefined) {
    const list = /following recipients?\b[^:]{0,200}:[ \t]*\n?((?:[ \t]*[a-z][a-z0-9._-]*[ \t]*(?:\n|$))+)/i.exec(
      notice,
    );
    if (list !== null) {
      let at = (list.index ?? 0) + list[0].length - (list[1]?.length ?? 0);
      for (const line of (list[1] ?? '').split('\n')) {
        const name = line.trim();
        if (name !== '')
          all.push({ address: `${name}@${options.localDomain}`, index: notice.indexOf(name, at), weak: false });
        at += line.length + 1;
      }
    }
  }
  const candidates = new Set(all.map((a) => a.address.toLowerCase()));
  const occurrences = [...notice.matchAll(ADDRESS)]
    .map((m) => ({ key: cleanAddress(m[1] ?? '').toLowerCase(), index: m.index ?? 0 }))
    .filter((o) => candidates.has(o.key));
  const strong = all.filter((a) => !a.weak);
  const firsts = strong.length > 0 ? strong : all;
  // X-Failed-Recipients (Exim, Gmail) is authoritative for who failed; the notice supplies the text.
  const failed = (options.failedRecipients ?? []).map((a) => a.trim()).filter((a) => a !== '');
  const chosen =
    failed.length > 0
      ? failed.map(
          (address) => firsts.find((f) => f.address.toLowerCase() === address.toLowerCase()) ?? { address, index: -1 },
        )
      : firsts;

  const recipients = chosen.map((entry) => {
    if (entry.index < 0) return { recipient: entry.address, diagnostic: oneLine(notice), paragraph: '', mentions: '' };
    // The text for this address ends where any other candidate address is named (first or again).
    const nextIndexes = occurrences
      .filter((o) => o.index > entry.index && o.key !== entry.address.toLowerCase())
      .map((o) => o.index);
    const end = nextIndexes.length > 0 ? Math.min(...nextIndexes) : notice.length;
    // The address itself (and qmail's "<addr>:") is not part of the diagnostic.
    const segment = notice.slice(entry.index, end).replace(/^<?[^\s>]+>?:?/, '');
    const after = segment.replace(/^\s+/, '');
    const blank = /\n[ \t]*\n/.exec(after);
    const paragraph = blank === null ? after : after.slice(0, blank.index);
    return {
      recipient: entry.address,
      diagnostic: oneLine(segment),
      paragraph: oneLine(paragraph),
      mentions: laterMentions(notice, entry.address, end),
    };
  });
  return { recipients, notice: notice.trim(), returned };
}
