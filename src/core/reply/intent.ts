/**
 * Reply intent: a transparent keyword/rule model over the trimmed reply text. Each rule names an
 * intent, its patterns and a weight; the scores of matching rules add up per intent, the best intent
 * wins, and the confidence says how strong and how uncontested it is. Only a clear result runs
 * automation; anything else goes to human review. One exception to the scoring: an explicit
 * request to stop (a rule marked `isStopRequest`, not negated in its own clause) is honoured
 * whatever else the reply says, so the result is then a clear unsubscribe_request, or a clear
 * complaint when the reply also complains (which unsubscribes too, and shows it to a person).
 * Pure; extend by passing extra rules.
 */

export const REPLY_INTENTS = [
  'unsubscribe_request',
  'out_of_office',
  'interested',
  'complaint',
  'wrong_person',
  'other',
] as const;
export type ReplyIntent = (typeof REPLY_INTENTS)[number];

export interface IntentRule {
  /** Stable name, shown as the matched rule (e.g. `unsubscribe.en`). */
  id: string;
  intent: Exclude<ReplyIntent, 'other'>;
  /** Strings match as whole words/phrases, case-insensitively; RegExps are tested as given on lower-cased text. */
  patterns: readonly (string | RegExp)[];
  /** 0–1: how sure one hit of this rule makes us. 1 = unambiguous on its own. */
  weight: number;
  /** An explicit request to stop mailing: honoured whatever else the reply says (unless negated
   *  in its clause, "I don't want to unsubscribe"). Only for unsubscribe_request rules. */
  isStopRequest?: boolean;
}

export interface IntentMatch {
  ruleId: string;
  intent: ReplyIntent;
  pattern: string;
  weight: number;
}

export interface IntentResult {
  intent: ReplyIntent;
  /** 0–1: strength of the winning score times its share of all scores. */
  confidence: number;
  /** The heaviest rule that voted for the winning intent, or null for `other`. */
  matchedRule: IntentMatch | null;
  /** Every rule that matched, for audit and review screens. */
  matches: IntentMatch[];
  /** True when automation may act on it (see isClearIntent; always true when stopRequested). */
  isClear: boolean;
  /** An explicit, non-negated request to stop mailing was found. */
  stopRequested: boolean;
}

/** Confidence needed before automation acts; below it a human reviews. */
export const DEFAULT_CLEAR_THRESHOLD = 0.7;

const rule = (
  id: string,
  intent: IntentRule['intent'],
  weight: number,
  patterns: IntentRule['patterns'],
): IntentRule => ({ id, intent, weight, patterns });
const stopRule = (id: string, patterns: IntentRule['patterns']): IntentRule => ({
  id,
  intent: 'unsubscribe_request',
  weight: 1,
  patterns,
  isStopRequest: true,
});

/** The default rules (EN, with basic DE/FR/ES). Order does not matter; weights do. */
export const DEFAULT_INTENT_RULES: readonly IntentRule[] = [
  stopRule('unsubscribe.en', [
    'unsubscribe',
    'remove me',
    'take me off',
    'opt me out',
    'opt out',
    'opt-out',
    'stop emailing',
    'stop sending',
    'stop contacting',
    'stop mailing',
    'no more emails',
    'no more e-mails',
    "don't email me",
    'do not email me',
    'do not contact me',
    "don't contact me",
    "don't send me",
    'do not send me',
    'remove my email',
    'remove my address',
    'remove us from',
    'delete my email',
    'delete me from',
    'leave me alone',
    /^\s*(please\s+)?(stop|unsubscribe|remove)\s*[.!]*\s*$/,
  ]),
  stopRule('unsubscribe.de', [
    'abmelden',
    'austragen',
    'keine e-mails mehr',
    'keine emails mehr',
    'keine mails mehr',
    'bitte entfernen',
    'entfernen sie mich',
    'abbestellen',
    'nicht mehr kontaktieren',
  ]),
  stopRule('unsubscribe.fr', [
    'désabonner',
    'désinscrire',
    'desinscrire',
    'desabonner',
    'ne plus recevoir',
    'retirez-moi',
    'me retirer de',
    'supprimez-moi',
    'désabonnement',
  ]),
  stopRule('unsubscribe.es', [
    'darme de baja',
    'dar de baja',
    'darse de baja',
    'cancelar suscripción',
    'no quiero recibir',
    'eliminarme de',
    'borrarme de',
    'no me envíen más',
  ]),
  stopRule('unsubscribe.nl', ['afmelden', 'uitschrijven', 'schrijf me uit', 'geen e-mails meer']),
  stopRule('unsubscribe.it', ['disiscrivermi', 'cancellatemi', 'cancellami', 'non voglio più ricevere']),
  stopRule('unsubscribe.pt', ['descadastrar', 'descadastre-me', 'cancelar inscrição', 'não quero mais receber']),
  rule('not-interested', 'unsubscribe_request', 0.6, [
    'not interested',
    'no longer interested',
    'no thanks',
    'no thank you',
    'kein interesse',
    'pas intéressé',
    'no me interesa',
  ]),
  rule('ooo.en', 'out_of_office', 1, [
    'out of office',
    'out of the office',
    'on vacation',
    'on holiday',
    'on leave',
    'away from the office',
    'away from my desk',
    'limited access to email',
    'limited access to my email',
    'parental leave',
    'maternity leave',
    'currently away',
  ]),
  rule('ooo.other', 'out_of_office', 1, [
    'nicht im büro',
    'abwesend',
    'im urlaub',
    'en congé',
    'en vacances',
    'absente jusqu',
    'absent jusqu',
    'fuera de la oficina',
    'de vacaciones',
  ]),
  rule('interested.en', 'interested', 0.8, [
    /(?<!not |no longer |un)interested/,
    'tell me more',
    'more info',
    'more information',
    'pricing',
    'price list',
    'a quote',
    'a demo',
    'call me',
    'schedule a call',
    'book a call',
    'sign me up',
    'how much',
    "let's talk",
    'sounds good',
    'sounds great',
    'looks great',
  ]),
  rule('interested.other', 'interested', 0.8, [
    /(?<!kein |nicht )interessiert/,
    'mehr informationen',
    'ein angebot',
    /(?<!pas )intéressée?/,
    "plus d'informations",
    'un devis',
    /(?<!no (?:estoy |estamos )?)interesad[oa]/,
    'más información',
    'una cotización',
  ]),
  rule('complaint.en', 'complaint', 0.9, [
    'spam',
    'spamming',
    'never signed up',
    "didn't sign up",
    'did not sign up',
    'never subscribed',
    'did not subscribe',
    "didn't subscribe",
    'how did you get my',
    'where did you get my',
    'reported you',
    'report you',
    'harassment',
    'scam',
    'illegal',
    'gdpr',
    'my lawyer',
  ]),
  rule('complaint.other', 'complaint', 0.9, [
    'nie angemeldet',
    'woher haben sie meine',
    'jamais inscrit',
    'jamais abonné',
    'nunca me suscribí',
    'nunca me registré',
  ]),
  rule('wrong-person.en', 'wrong_person', 0.9, [
    'wrong person',
    'not the right person',
    'not the correct person',
    'not the right contact',
    'no longer work',
    'no longer with',
    'left the company',
    'have left the company',
    'left the team',
    'not my department',
    'not responsible for',
    'no longer responsible',
  ]),
  // Weak on purpose: out-of-office notes also say "please contact …".
  rule('wrong-person.redirect', 'wrong_person', 0.4, [
    /please contact \S+@\S+ instead/,
    'contact them instead',
    'reach out to them instead',
    /instead,? please contact/,
  ]),
  rule('wrong-person.other', 'wrong_person', 0.9, [
    'falsche person',
    'nicht mehr im unternehmen',
    'nicht zuständig',
    'mauvaise personne',
    'ne travaille plus',
    'persona equivocada',
    'ya no trabajo',
  ]),
];

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const patternCache = new WeakMap<IntentRule['patterns'], RegExp[]>();

/** Each pattern as a global RegExp: a string matches as a whole phrase (no letter or digit
 *  directly before or after), a RegExp as given. */
function compiled(patterns: IntentRule['patterns']): RegExp[] {
  let list = patternCache.get(patterns);
  if (list === undefined) {
    list = patterns.map((p) =>
      typeof p === 'string'
        ? new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(p.toLowerCase())}(?![\\p{L}\\p{N}])`, 'gu')
        : new RegExp(p.source, p.flags.includes('g') ? p.flags : `${p.flags}g`),
    );
    patternCache.set(patterns, list);
  }
  return list;
}

/** A negation right before a phrase, with at most a few helper words between (not any words:
 *  "not interested please unsubscribe" is a stop request): "I don't want to unsubscribe",
 *  "please do not remove me", "bitte nicht abmelden", "je ne veux pas me désinscrire". */
const NEGATED = new RegExp(
  "(?<![\\p{L}\\p{N}])(?:don'?t|don’t|do not|does not|doesn'?t|did not|didn'?t|not|never|no need to|nicht|nie|pas|"
    + 'jamais|niet|nunca|no)'
    + '(?:\\s+(?:want|wish|need|mean|meant|intend|plan|try|trying|going|gonna|to|be|me|you|it|ever|'
    + 'mich|veux|voulais|me|quiero|quise|wil|mij|ik))*\\s*$',
  'u',
);
const CLAUSE_END = /[.!?;,\n]/g;

/** Instructions rather than a request: list-footer and help text an untrimmed quote may carry
 *  ("if you no longer wish to receive these, unsubscribe here", "To unsubscribe, click …",
 *  "click here to opt out", "Unsubscribe | Manage preferences"). A person's polite "if you could
 *  remove me" is still a request. */
const INSTRUCTION_BEFORE =
  /(?<![\p{L}\p{N}])(?:if you(?! (?:could|would|can|please))|you can|you may|click|tap)(?![\p{L}\p{N}])/u;
const INSTRUCTION_AFTER = /^[ \t]*(?:link|here|button|url|page|preferences|settings|\||·|•)/u;
const SENTENCE_END = /[.!?\n]/g;
/** "remove me", "unsubscribe us", "retirez-moi": a phrase about the writer is a request even in
 *  a sentence that reads like instructions ("you can remove me from the list"). */
const FIRST_PERSON = /(?<![\p{L}\p{N}])(?:me|my|us|our|mich|mir|moi|mij|mijn|mi)(?![\p{L}\p{N}])/u;

/** Is this hit of a stop phrase not a request: negated, or part of instructions? */
function isNotARequest(lower: string, index: number, length: number): boolean {
  const before = lower.slice(Math.max(0, index - 120), index);
  let clause = 0;
  for (const m of before.matchAll(CLAUSE_END)) clause = m.index + 1;
  let sentence = 0;
  for (const m of before.matchAll(SENTENCE_END)) sentence = m.index + 1;
  const clauseBefore = before.slice(clause);
  if (NEGATED.test(clauseBefore)) return true;
  const after = lower.slice(index + length, index + length + 20);
  const aboutTheWriter = FIRST_PERSON.test(lower.slice(index, index + length)) || /^\s*(?:me|us)\b/.test(after);
  return (
    !aboutTheWriter
    && (/^\s*to\s*$/.test(clauseBefore)
      || INSTRUCTION_BEFORE.test(before.slice(sentence))
      || INSTRUCTION_AFTER.test(after))
  );
}

/** The first pattern of the rule that matches (skipping negated hits of a stop request), or undefined. */
function firstHit(r: IntentRule, lower: string): string | undefined {
  const regs = compiled(r.patterns);
  for (let i = 0; i < regs.length; i++) {
    const re = regs[i]!;
    re.lastIndex = 0;
    for (const m of lower.matchAll(re)) {
      if (!r.isStopRequest || !isNotARequest(lower, m.index, m[0].length)) return String(r.patterns[i]);
    }
  }
  return undefined;
}

/** Is the result safe for automation? A named intent at or above the threshold. */
export function isClearIntent(
  result: Pick<IntentResult, 'intent' | 'confidence'>,
  threshold = DEFAULT_CLEAR_THRESHOLD,
): boolean {
  return result.intent !== 'other' && result.confidence >= threshold;
}

/** Classifies trimmed reply text. `rules` replaces the defaults; `extraRules` adds to them. */
export function classifyReplyIntent(
  text: string,
  options: { rules?: readonly IntentRule[]; extraRules?: readonly IntentRule[]; clearThreshold?: number } = {},
): IntentResult {
  const rules = [...(options.rules ?? DEFAULT_INTENT_RULES), ...(options.extraRules ?? [])];
  const lower = text.normalize('NFC').toLowerCase();
  const found: IntentMatch[] = [];
  let stopRequested = false;
  for (const r of rules) {
    const hit = firstHit(r, lower);
    if (hit === undefined) continue;
    found.push({ ruleId: r.id, intent: r.intent, pattern: hit, weight: r.weight });
    if (r.isStopRequest === true && r.intent === 'unsubscribe_request') stopRequested = true;
  }
  const scores = new Map<ReplyIntent, number>();
  for (const m of found) scores.set(m.intent, (scores.get(m.intent) ?? 0) + m.weight);
  let best: ReplyIntent = 'other';
  let bestScore = 0;
  let total = 0;
  for (const [intent, score] of scores) {
    total += score;
    if (score > bestScore) {
      best = intent;
      bestScore = score;
    }
  }
  const topOf = (intent: ReplyIntent) =>
    found.filter((m) => m.intent === intent).sort((a, b) => b.weight - a.weight)[0] ?? null;
  if (stopRequested) {
    // The stop is honoured however the other scores split; a complaint alongside it stays visible.
    const intent: ReplyIntent = scores.has('complaint') ? 'complaint' : 'unsubscribe_request';
    return { intent, confidence: 1, matchedRule: topOf(intent), matches: found, isClear: true, stopRequested };
  }
  if (best === 'other')
    return { intent: 'other', confidence: 0, matchedRule: null, matches: found, isClear: false, stopRequested };
  const confidence = Math.round(Math.min(1, bestScore) * (bestScore / total) * 1000) / 1000;
  const result = { intent: best, confidence, matchedRule: topOf(best), matches: found };
  return { ...result, isClear: isClearIntent(result, options.clearThreshold), stopRequested };
}

/** A classifier with extra rules baked in, for callers that configure rules once. */
export function createIntentClassifier(
  extraRules: readonly IntentRule[],
  options: { clearThreshold?: number } = {},
): (text: string) => IntentResult {
  return (text) => classifyReplyIntent(text, { extraRules, ...options });
}
