/**
 * Header and subject signals that decide what an inbound message is before any body parsing:
 * bounce-like senders and subjects (for DSNs without a delivery-status part), non-ARF complaint
 * formats, and RFC 3834 / vendor auto-reply markers (bounces.md §4–5). Pure functions over header
 * values; a bounce is never mistaken for an auto-reply (mailer-daemon exclusion first).
 */

/** Raw header access: lower-cased name → every value (unfolded). */
export type HeaderLookup = (name: string) => string[];

// Not root@: cron and scripts send ordinary mail as root; its bounces carry a bounce subject anyway.
const BOUNCE_SENDER = /^(mailer-daemon|postmaster|mail-daemon|mailer|bounce|bounces|mdaemon|mail\.delivery)@/i;
const BOUNCE_DISPLAY = /mail delivery (system|subsystem)|mailer-daemon|postmaster/i;
const BOUNCE_SUBJECT = new RegExp(
  [
    'undeliver',
    'undelivered mail',
    'delivery status notification',
    'returned mail',
    'failure notice',
    'mail delivery failed',
    'delivery failure',
    'non[- ]?delivery',
    'could not be delivered',
    'mail failure',
    'delivery has failed',
    'delivery notification',
    'warning: could not send',
    'delayed mail',
    'returning message to sender',
    'delivery failed',
    'mail delivery status',
    'delivery failure',
    'address not found',
    'mail delivery (problem|warning|error)',
    'mail system error',
    'message not delivered',
    'delivery (status )?report',
    'returned to sender',
    'non remis',
    'non distribu',
    '[ée]chec de (la )?(remise|distribution)',
    'unzustellbar',
    'nicht zustellbar',
    'zustellung fehlgeschlagen',
    'no (se puede )?entregad?',
    'error de entrega',
    'non recapitat',
    'n[ãa]o entregue',
    'falha na entrega',
    'onbestelbaar',
    'niedostarczon',
    'недоставлен',
    '配信(エラー|失敗)',
    '退信',
  ].join('|'),
  'i',
);
const DELAY_SUBJECT = /delay|still being retried|will (be )?retr/i;
/** "Warning" alone is not enough: MDaemon titles its final failures "Warning: <addr> - User unknown!". */
const WARNING_SUBJECT = /warning/i;
const FINAL_SUBJECT = /unknown|does not exist|no such|failed|failure|undeliverable|returned|rejected/i;

/** Does the sender or subject say "this is a bounce"? (used when there is no delivery-status part) */
export function isBounceLike(
  from: { address?: string; name?: string },
  subject: string,
  headers: HeaderLookup,
): boolean {
  if (headers('x-failed-recipients').length > 0) return true;
  if (BOUNCE_SENDER.test(from.address ?? '') || BOUNCE_DISPLAY.test(from.name ?? '')) return true;
  return BOUNCE_SUBJECT.test(subject);
}

const DELAY_BODY = new RegExp(
  [
    'has not yet been delivered',
    'not been delivered yet',
    'delivery (attempts )?will continue',
    'will (continue|keep) (to )?try',
    'still (being )?retried',
    'will be retried',
    'warning message only',
    'you do not need to resend',
    'delivery (is|has been) delayed',
    'delay reason',
  ].join('|'),
  'i',
);
/** Said only while the MTA keeps trying: these outweigh a generic "could not be delivered". */
const STILL_TRYING_BODY = new RegExp(
  [
    'delivery attempts will continue',
    'will (continue|keep) (to )?try',
    'will be retried',
    'warning message only',
    'do not need to resend',
    'do not resend',
  ].join('|'),
  'i',
);
const GAVE_UP_BODY = /permanent (error|failure)|(have|has|i've|i have) given up|gave up|will not be retried/i;
const FINAL_BODY = /could not be delivered\b/i;

/** A text bounce that is only a delay warning: its subject says so, or its notice does and never says it gave up. */
export function isDelayNotice(subject: string, notice = ''): boolean {
  if (DELAY_SUBJECT.test(subject)) return true;
  if (GAVE_UP_BODY.test(notice)) return false;
  if (WARNING_SUBJECT.test(subject) && !FINAL_SUBJECT.test(subject)) return true;
  if (STILL_TRYING_BODY.test(notice)) return true;
  return DELAY_BODY.test(notice) && !FINAL_BODY.test(notice);
}

/** Known non-ARF complaint formats (bounces.md §4): Hotmail JMRP, SES, Apple. Returns the format name. */
export function detectNonArfComplaint(from: string, subject: string, headers: HeaderLookup): string | null {
  const sender = from.toLowerCase();
  if (sender === 'staff@hotmail.com' && /complaint about message from/i.test(subject)) return 'microsoft-jmrp';
  // Hotmail's older loop hands back the reported message itself, stamped with who complained.
  if (headers('x-hmxmroriginalrecipient').length > 0) return 'microsoft-jmrp';
  if (sender === 'complaints@email-abuse.amazonses.com') return 'amazon-ses';
  if (headers('x-apple-unsubscribe').some((v) => v.trim().toLowerCase() === 'true')) return 'apple-unsubscribe';
  return null;
}

const AUTO_SUBJECT = new RegExp(
  String.raw`^\s*(`
    + [
      'auto:',
      'automatic reply:',
      'auto(matic)? response:',
      'autoreply:',
      'auto-reply:',
      'out of (the )?office( autoreply)?:',
      'abwesenheitsnotiz',
      'automatische antwort',
      'r[ée]ponse automatique',
      'absence:',
      'respuesta autom[aá]tica',
      'fuera de la oficina',
      'risposta automatica',
      'fuori sede',
      'automatisch antwoord',
      'afwezigheidsbericht',
      'resposta autom[aá]tica',
      'fora do escrit[óo]rio',
      'autosvar',
      'automatisk svar',
      'automaattinen vastaus',
      'automatyczna odpowied[źz]',
      'automatická odpověď',
      'автоматический ответ',
      'автоответ',
      'otomatik yan[ıi]t',
      '自動応答',
      '自动回复',
      '自動回覆',
      '자동 회신',
      'vacation( reply| notice| response)?:',
      'away from (the )?office:',
    ].join('|')
    + ')'
    // AOL and some webmail append it instead: "Re: Your order (Automatic Response)".
    + String.raw`|(\((?:auto(?:matic)?[ -]?(?:response|reply)|autoreply|out of office)\))\s*$`,
  'i',
);

/**
 * RFC 3834 and vendor auto-reply signals, each named (e.g. `auto-submitted:auto-replied`).
 * Empty when the message looks human. Callers exclude bounces first.
 */
export function detectAutoReplySignals(subject: string, headers: HeaderLookup): string[] {
  const signals: string[] = [];
  for (const v of headers('auto-submitted')) {
    const value =
      v
        .trim()
        .toLowerCase()
        .split(/[\s;(]/)[0] ?? '';
    if (value !== '' && value !== 'no') signals.push(`auto-submitted:${value}`);
  }
  for (const name of ['x-autoreply', 'x-autorespond', 'x-auto-response-suppress']) {
    if (headers(name).length > 0) signals.push(name);
  }
  if (headers('x-apple-action').some((v) => /vacation/i.test(v))) signals.push('x-apple-action:vacation');
  for (const v of headers('precedence')) {
    const value = v.trim().toLowerCase();
    if (value === 'auto_reply' || value === 'bulk' || value === 'junk') signals.push(`precedence:${value}`);
  }
  const subj = AUTO_SUBJECT.exec(subject);
  if (subj !== null) signals.push(`subject:${(subj[1] ?? subj[2] ?? '').trim().toLowerCase()}`);
  return signals;
}
