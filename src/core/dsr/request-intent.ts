/**
 * What kind of data-subject request a free-text mail to the privacy address asks for, so the review
 * queue shows it as a DSR candidate with its likely type (a person still decides: nothing
 * irreversible happens on a guess). Phrases in English, German, French and Spanish, each bounded
 * (no unbounded gaps, so a long body cannot make a pattern backtrack). Pure.
 */
import type { DsrType } from './deadlines.ts';

export interface DetectedDsrRequest {
  /** The most specific type the text asks for; null when it names none we know. */
  type: DsrType | null;
  /** 0 when nothing matched; 0.9 when a phrase of one type matched; 0.6 when several types did. */
  confidence: number;
  /** Every type whose phrases matched, in the order of DETECTION_ORDER. */
  matched: DsrType[];
}

// a short gap between words of one phrase (bounded, never across a paragraph)
const G = '[^.!?\\n]{0,40}?';
const MY = '(?:my|all(?: of)? my|our|any|the)';
const DATA = '(?:personal )?(?:data|information|info|details|records?|account|profile)';

const PHRASES: Record<DsrType, RegExp[]> = {
  opt_out_of_sale: [
    /\bdo(?:n'?t| not) sell\b/i,
    /\bopt(?:[- ])?out of (?:the )?(?:sale|selling|sharing)\b/i,
    /\b(?:stop|no) (?:selling|sharing) my\b/i,
    /\bdo not sell or share\b/i,
  ],
  erasure: [
    new RegExp(`\\b(?:delete|erase|remove|wipe|destroy|purge)${G}\\b${MY}\\b${G}${DATA}`, 'i'),
    new RegExp(`\\b${DATA}${G}\\b(?:deleted|erased|removed)\\b`, 'i'),
    /\bright to (?:be forgotten|erasure)\b/i,
    /\bforget (?:about )?me\b/i,
    /\barticle 17\b/i,
    /\b(?:löschen|löschung)\b/i,
    /\b(?:supprimer|effacer|suppression)\b[^.!?\n]{0,40}?\b(?:mes|mon|ma) (?:données|compte)/i,
    /\b(?:borrar|eliminar|suprimir)\b[^.!?\n]{0,40}?\b(?:mis|mi) (?:datos|cuenta)/i,
  ],
  portability: [
    /\bportab(?:le|ility)\b/i,
    new RegExp(`\\b(?:export|transfer|download)${G}\\b${MY}\\b${G}${DATA}`, 'i'),
    /\bmachine[- ]readable\b/i,
    /\barticle 20\b/i,
    /\bdatenübertragbarkeit\b/i,
  ],
  access: [
    new RegExp(`\\bcopy of\\b${G}${DATA}`, 'i'),
    new RegExp(`\\bwhat${G}${DATA}${G}\\b(?:hold|have|store|keep|process|collect)`, 'i'),
    /\b(?:subject|data) access request\b/i,
    /\bDSAR\b/,
    new RegExp(`\\baccess (?:to )?${MY}\\b${G}${DATA}`, 'i'),
    /\barticle 15\b/i,
    /\bauskunft\b/i,
    /\baccès à mes données\b/i,
    /\bacceso a mis datos\b/i,
  ],
  rectification: [
    new RegExp(`\\b(?:correct|rectify|fix|update)${G}\\b${MY}\\b${G}${DATA}`, 'i'),
    new RegExp(`\\b${DATA}${G}\\b(?:is|are) (?:wrong|incorrect|out of date|inaccurate)\\b`, 'i'),
    /\barticle 16\b/i,
    /\bberichtig/i,
  ],
};

/** Checked in this order; the first that matched is the type (erasure outranks a copy asked with it). */
export const DETECTION_ORDER: readonly DsrType[] = [
  'erasure',
  'opt_out_of_sale',
  'portability',
  'access',
  'rectification',
];

/** Only the start of a long body is read: a request says what it wants early. */
const MAX_SCANNED = 8_000;

export function detectDsrRequest(subject: string | undefined, text: string): DetectedDsrRequest {
  const scanned = `${subject ?? ''}\n${text.slice(0, MAX_SCANNED)}`;
  const matched = DETECTION_ORDER.filter((type) => PHRASES[type].some((re) => re.test(scanned)));
  const type = matched[0] ?? null;
  return { type, confidence: type === null ? 0 : matched.length === 1 ? 0.9 : 0.6, matched };
}
