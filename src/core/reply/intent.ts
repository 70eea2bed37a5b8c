/**
 * Reply intent: a transparent keyword/rule model over the trimmed reply text. Each rule names an
 * intent, its patterns and a weight; the scores of matching rules add up per intent, the best intent
 * wins, and the confidence says how strong and how uncontested it is. Only a clear result runs
 * automation; anything else goes to human review. Pure; extend by passing extra rules.
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
  /** True when automation may act on it (see isClearIntent). */
  isClear: boolean;
}

/** Confidence needed before automation acts; below it a human reviews. */
export const DEFAULT_CLEAR_THRESHOLD = 0.7;

const rule = (
  id: string,
  intent: IntentRule['intent'],
  weight: number,
  patterns: IntentRule['patterns'],
): IntentRule => ({ id, intent, weight, patterns });

/** The default rules (EN, with basic DE/FR/ES). Order does not matter; weights do. */
export const DEFAULT_INTENT_RULES: readonly IntentRule[] = [
  rule('unsubscribe.en', 'unsubscribe_request', 1, [
    'unsubscribe',
    'remove me',
    'take me off',
    'opt me out',
    'opt out',
    'opt-out',
    'stop emailing',
    'stop sending',
    'stop contacting',
    'no more emails',
    "don't email me",
    'do not email me',
    'do not contact me',
    "don't contact me",
    'remove my email',
    'remove my address',
    'remove us from',
    'delete my email',
    /^\s*(stop|unsubscribe|remove)\s*[.!]*\s*$/,
  ]),
  rule('unsubscribe.de', 'unsubscribe_request', 1, [
    'abmelden',
    'austragen',
    'keine e-mails mehr',
    'keine emails mehr',
    'bitte entfernen',
    'abbestellen',
  ]),
  rule('unsubscribe.fr', 'unsubscribe_request', 1, [
    'désabonner',
    'désinscrire',
    'desinscrire',
    'desabonner',
    'ne plus recevoir',
    'retirez-moi',
    'désabonnement',
  ]),
  rule('unsubscribe.es', 'unsubscribe_request', 1, [
    'darme de baja',
    'dar de baja',
    'darse de baja',
    'cancelar suscripción',
    'no quiero recibir',
    'eliminarme de',
  ]),
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

/** A string pattern matches as a whole phrase: no letter or digit directly before or after. */
function matches(pattern: string | RegExp, lower: string): boolean {
  if (typeof pattern !== 'string') return pattern.test(lower);
  return new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(pattern.toLowerCase())}(?![\\p{L}\\p{N}])`, 'u').test(lower);
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
  for (const r of rules) {
    const hit = r.patterns.find((p) => matches(p, lower));
    if (hit !== undefined) found.push({ ruleId: r.id, intent: r.intent, pattern: String(hit), weight: r.weight });
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
  if (best === 'other') return { intent: 'other', confidence: 0, matchedRule: null, matches: found, isClear: false };
  const confidence = Math.round(Math.min(1, bestScore) * (bestScore / total) * 1000) / 1000;
  const top = found.filter((m) => m.intent === best).sort((a, b) => b.weight - a.weight)[0] ?? null;
  const result = { intent: best, confidence, matchedRule: top, matches: found };
  return { ...result, isClear: isClearIntent(result, options.clearThreshold) };
}

/** A classifier with extra rules baked in, for callers that configure rules once. */
export function createIntentClassifier(
  extraRules: readonly IntentRule[],
  options: { clearThreshold?: number } = {},
): (text: string) => IntentResult {
  return (text) => classifyReplyIntent(text, { extraRules, ...options });
}
