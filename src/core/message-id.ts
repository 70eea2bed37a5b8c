/**
 * Our Message-ID: `sy1.<base64url of "<campaignId>:<contactId>">@<domain>`. Deterministic per
 * send-ledger row (a retried render produces the identical message) and unique across rows, and
 * it names its row by itself: anything that comes back with only the Message-ID (a DSN without
 * VERP, an ESP event without our custom fields, a reply's In-Reply-To) maps to the ledger row
 * without an index on the ledger's message ids: such an index has random keys, so every insert
 * dirties a random index page, a large share of a blast's WAL (bench/README.md, blast). Mail
 * with the earlier format, `<32 hex chars>@<domain>`, keeps its message_id in the ledger and its
 * (partial) index, and is still looked up there.
 * The ids it reveals are the ones the X-Switchyard-Campaign/-Contact headers carry anyway.
 */

const PREFIX = 'sy1.';

export function messageIdFor(campaignId: string, contactId: string, domain: string): string {
  return `${PREFIX}${Buffer.from(`${campaignId}:${contactId}`, 'utf8').toString('base64url')}@${domain}`;
}

/** Whether this Message-ID names its ledger row (cheap: no decoding). */
export function namesLedgerRow(messageId: string): boolean {
  return messageId.startsWith(PREFIX);
}

/** The ledger row a Message-ID of ours names (angle brackets allowed), or null for any other id. */
export function ledgerOfMessageId(messageId: string): { campaignId: string; contactId: string } | null {
  const id = messageId.startsWith('<') && messageId.endsWith('>') ? messageId.slice(1, -1) : messageId;
  const at = id.lastIndexOf('@');
  if (!id.startsWith(PREFIX) || at < 0) return null;
  const encoded = id.slice(PREFIX.length, at);
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) return null;
  const bytes = Buffer.from(encoded, 'base64url');
  // canonical encodings only: no two strings name the same row
  if (bytes.toString('base64url') !== encoded) return null;
  const ledgerId = bytes.toString('utf8');
  const colon = ledgerId.indexOf(':');
  // campaign ids never hold ':' (service.ts: ^[a-z0-9][a-z0-9_-]{0,63}$); contact ids may
  if (colon <= 0 || colon === ledgerId.length - 1 || Buffer.from(ledgerId, 'utf8').toString('base64url') !== encoded)
    return null;
  return { campaignId: ledgerId.slice(0, colon), contactId: ledgerId.slice(colon + 1) };
}
