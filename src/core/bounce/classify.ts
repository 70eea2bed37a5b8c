/**
 * Classifies one recipient's delivery failure from structured fields, following the decision
 * procedure of bounces.md §8: feedback → auto-reply → delayed → code → reason (status table,
 * provider codes, phrase table) → throttle → hard/soft. Pure and total: any input, including
 * garbage text, yields exactly one kind; it never throws.
 */
import { matchPhrase } from './phrases.ts';
import { LOW_CONFIDENCE_REASONS, parseEnhancedCode, reasonForProviderStatus, reasonForStatus } from './status-table.ts';
import {
  HARD_REASONS,
  RECIPIENT_SIDE_REASONS,
  THROTTLE_REASONS,
  type BounceClassification,
  type BounceKind,
  type BounceReason,
  type FailureInput,
} from './types.ts';

/** Phrases too general to overrule a specific status code (they only refine a generic one). */
const WEAK_PHRASE_REASONS: ReadonlySet<BounceReason> = new Set([
  'systemerror',
  'networkerror',
  'expired',
  'contenterror',
  'mailererror',
  'undefined',
  'onhold',
]);

// Not preceded by a digit or dot (so IPs like 10.2.3.4 do not yield "2.3.4"), not followed by more digits.
const ENHANCED_IN_TEXT = /(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)/;
const REPLY_IN_TEXT = /(?:^|[\s;:(#])([245]\d\d)(?=[\s-]|$)/;

/**
 * The first failure (4.x.x / 5.x.x) enhanced status code in a text, normalised ("5.1.1"); a 2.x.x
 * code only when there is no failure code (a transcript shows "250 2.1.0 Sender ok" first). Null if none.
 */
export function extractEnhancedCode(text: string | undefined): string | null {
  if (text === undefined) return null;
  let success: string | null = null;
  for (const m of text.matchAll(new RegExp(ENHANCED_IN_TEXT.source, 'g'))) {
    const code = `${m[1]}.${Number(m[2])}.${Number(m[3])}`;
    if (m[1] !== '2') return code;
    success ??= code;
  }
  return success;
}

/** The first basic SMTP reply code (e.g. 550) in a diagnostic text, or null. */
export function extractReplyCode(text: string | undefined): number | null {
  if (text === undefined) return null;
  let success: number | null = null;
  for (const m of text.matchAll(new RegExp(REPLY_IN_TEXT.source, 'g'))) {
    if (m[1]?.[0] !== '2') return Number(m[1]);
    success ??= Number(m[1]);
  }
  return success;
}

/** DSN Status vs the code inside Diagnostic-Code: prefer the diagnostic's when it is more specific. */
function pickCode(status: string | null, fromDiagnostic: string | null): string | null {
  if (status === null) return fromDiagnostic;
  if (fromDiagnostic === null || fromDiagnostic === status) return status;
  const s = parseEnhancedCode(status);
  const d = parseEnhancedCode(fromDiagnostic);
  if (s === null || d === null || s.klass !== d.klass) return status;
  const isGeneric = s.detail === 0 && (s.subject === 0 || s.subject === d.subject);
  return isGeneric ? fromDiagnostic : status;
}

function decideReason(
  code: string | null,
  diagnostic: string,
  remoteMta: string,
): Pick<BounceClassification, 'reason' | 'matchedBy' | 'matchedRule'> {
  // Servers reuse codes loosely ("550 5.1.1 … blocked using …", "554 5.7.1 … relay access denied"),
  // so a specific phrase wins over any code; a vague phrase only refines a vague code.
  const phrase = matchPhrase(diagnostic);
  const byPhrase =
    phrase === null ? null : { reason: phrase.reason, matchedBy: 'phrase' as const, matchedRule: phrase.pattern };
  if (byPhrase !== null && !WEAK_PHRASE_REASONS.has(byPhrase.reason)) return byPhrase;
  if (code !== null) {
    const provider = reasonForProviderStatus(code, `${diagnostic} ${remoteMta}`);
    if (provider !== null)
      return { reason: provider.reason, matchedBy: 'provider-status', matchedRule: `${provider.provider} ${code}` };
  }
  const fromStatus = code === null ? null : reasonForStatus(code);
  if (fromStatus !== null && !LOW_CONFIDENCE_REASONS.has(fromStatus)) {
    return { reason: fromStatus, matchedBy: 'status', matchedRule: code };
  }
  if (byPhrase !== null) return byPhrase;
  if (fromStatus !== null) return { reason: fromStatus, matchedBy: 'status', matchedRule: code };
  return { reason: 'undefined', matchedBy: 'none', matchedRule: null };
}

function result(
  kind: BounceKind,
  reason: BounceReason,
  status: string | null,
  reply: number | null,
  rest: Partial<BounceClassification> = {},
): BounceClassification {
  // x.2.x codes are about the mailbox (e.g. Gmail 4.2.1 "this user receives too fast"): retry that
  // recipient later, but never slow the whole stream down (deliverability.md §3, §5).
  const isMailboxCode = status !== null && /^[45]\.2\./.test(status);
  return {
    kind,
    reason,
    status,
    smtpReplyCode: reply,
    countsTowardSoftLimit: kind === 'soft_bounce' && RECIPIENT_SIDE_REASONS.has(reason),
    isThrottleSignal: kind !== 'hard_bounce' && THROTTLE_REASONS.has(reason) && !isMailboxCode,
    matchedBy: 'none',
    matchedRule: null,
    ...rest,
  };
}

/** Classifies one recipient's failure (bounces.md §8). Total: never throws. */
export function classifyFailure(input: FailureInput): BounceClassification {
  const diagnostic = input.diagnostic ?? '';
  const action = (input.action ?? '').trim().toLowerCase();
  const code = pickCode(extractEnhancedCode(input.status), extractEnhancedCode(diagnostic));
  const validReply =
    input.smtpReplyCode !== undefined && input.smtpReplyCode >= 200 && input.smtpReplyCode < 600
      ? input.smtpReplyCode
      : null;
  const reply = validReply ?? extractReplyCode(diagnostic);
  const status = code ?? (reply === null ? null : String(reply));
  // Step 1–2: message-level signals decide before any code.
  if (input.isFeedback === true) return result('complaint', 'feedback', status, reply, { matchedBy: 'signal' });
  if (input.isAutoReply === true) return result('auto_reply', 'vacation', status, reply, { matchedBy: 'signal' });

  const parsed = code === null ? null : parseEnhancedCode(code);
  const replyClass = reply === null ? null : Math.floor(reply / 100);
  const klass = parsed?.klass ?? (replyClass === 2 || replyClass === 4 || replyClass === 5 ? replyClass : null);
  if (
    action === 'delivered'
    || action === 'relayed'
    || action === 'expanded'
    || (klass === 2 && action !== 'failed' && action !== 'delayed')
  ) {
    return result('delivered', 'delivered', status, reply, { matchedBy: 'action', matchedRule: action || status });
  }
  // A success code inside a failure report (a transcript line) says nothing about the failure.
  const decided = decideReason(klass === 2 ? null : code, diagnostic, input.remoteMta ?? '');
  // Step 3: a delay notice is never final. Its reason is what the diagnostic says; with nothing
  // specific it is `expired`: the message waits in a queue that will time out (sisimai's rule).
  if (action === 'delayed') {
    if (decided.reason !== 'undefined' && decided.reason !== 'onhold')
      return result('deferred', decided.reason, status, reply, decided);
    return result('deferred', 'expired', status, reply, { matchedBy: 'action', matchedRule: 'delayed' });
  }
  // Step 6: "slow down" about us, with a temporary class, goes to the governor.
  if (THROTTLE_REASONS.has(decided.reason) && klass === 4)
    return result('deferred', decided.reason, status, reply, decided);
  // Step 7: sisimai's hard rule; notaccept is hard unless clearly temporary.
  const isHard = HARD_REASONS.has(decided.reason) || (decided.reason === 'notaccept' && klass !== 4);
  if (isHard) return result('hard_bounce', decided.reason, status, reply, decided);
  // Step 8: a live 4xx is a deferral; a failed DSN or an ESP's final word is a soft bounce.
  const isFinal = input.isFinal ?? (action === 'failed' || input.source !== 'sync');
  if (klass === 4 && !isFinal) return result('deferred', decided.reason, status, reply, decided);
  return result('soft_bounce', decided.reason, status, reply, decided);
}
