/**
 * Deterministic synthetic contacts for the demo warehouse, CSV fixtures and benchmarks. Row i
 * of seed s is computed from (s, i) alone — no state, no Math.random — so any row can be
 * produced without the ones before it, a stream can resume anywhere, and two runs agree. Email
 * addresses use only reserved example domains (RFC 2606), so nothing can ever be delivered.
 */
import type { SchemaMapping } from '../port.ts';

/** The demo source's own column names (a warehouse's native schema, not ours). */
export const DEMO_COLUMNS = [
  'customer_id',
  'email_address',
  'first_name',
  'last_name',
  'company',
  'tz',
  'country_code',
  'locale',
  'plan',
  'signup_date',
  'lifetime_value',
  'marketing_opt_in',
] as const;

export type DemoRow = Record<(typeof DEMO_COLUMNS)[number], string>;

/** The mapping that turns demo rows into contacts (also an example of the JSON format). */
export const DEMO_MAPPING: SchemaMapping = {
  columns: {
    id: 'customer_id',
    email: 'email_address',
    timezone: 'tz',
    country: 'country_code',
    locale: 'locale',
    firstName: 'first_name',
    lastName: 'last_name',
    company: 'company',
    plan: 'plan',
    signupDate: 'signup_date',
    lifetimeValue: 'lifetime_value',
    marketingOptIn: 'marketing_opt_in',
  },
};

const FIRST = [
  'Ada',
  'Ben',
  'Chloé',
  'Dmitri',
  'Emma',
  'Farah',
  'Giulia',
  'Hiro',
  'Ines',
  'Jonas',
  'Kofi',
  'Lena',
  'Mateo',
  'Noor',
  'Olivia',
  'Pierre',
  'Quinn',
  'Rosa',
  'Sven',
  'Tara',
  'Uma',
  'Victor',
  'Wei',
  'Ximena',
  'Yusuf',
  'Zoë',
];
const LAST = [
  'Andersen',
  'Bauer',
  'Costa',
  'Dubois',
  'Eriksson',
  'Fischer',
  'García',
  'Hughes',
  'Ivanova',
  'Jansen',
  'Kowalski',
  'Lambert',
  'Müller',
  'Nakamura',
  "O'Brien",
  'Patel',
  'Rossi',
  'Schmidt',
  'Tremblay',
  'Walsh',
];
const DOMAINS = ['example.com', 'example.org', 'example.net', 'mail.example.com', 'shop.example'];
const COMPANIES = [
  'Acme',
  'Globex',
  'Initech',
  'Umbrella, Inc.',
  'Hooli',
  'Vandelay Industries',
  'Stark & Sons',
  'Wayne "Enterprises"',
  '',
];
/** [country, time zone, locale, weight] — US/CA/EU-heavy, like a typical customer base. */
const PLACES: [string, string, string, number][] = [
  ['US', 'America/New_York', 'en-US', 14],
  ['US', 'America/Chicago', 'en-US', 9],
  ['US', 'America/Denver', 'en-US', 4],
  ['US', 'America/Los_Angeles', 'en-US', 10],
  ['US', 'America/Phoenix', 'en-US', 2],
  ['US', 'America/Anchorage', 'en-US', 1],
  ['CA', 'America/Toronto', 'en-CA', 5],
  ['CA', 'America/Toronto', 'fr-CA', 2],
  ['CA', 'America/Vancouver', 'en-CA', 3],
  ['CA', 'America/Halifax', 'en-CA', 1],
  ['CA', 'America/Edmonton', 'en-CA', 1],
  ['GB', 'Europe/London', 'en-GB', 7],
  ['IE', 'Europe/Dublin', 'en-IE', 2],
  ['DE', 'Europe/Berlin', 'de-DE', 7],
  ['AT', 'Europe/Vienna', 'de-AT', 1],
  ['FR', 'Europe/Paris', 'fr-FR', 6],
  ['ES', 'Europe/Madrid', 'es-ES', 4],
  ['IT', 'Europe/Rome', 'it-IT', 4],
  ['NL', 'Europe/Amsterdam', 'nl-NL', 3],
  ['BE', 'Europe/Brussels', 'nl-BE', 1],
  ['PL', 'Europe/Warsaw', 'pl-PL', 2],
  ['SE', 'Europe/Stockholm', 'sv-SE', 2],
  ['PT', 'Europe/Lisbon', 'pt-PT', 1],
  ['FI', 'Europe/Helsinki', 'fi-FI', 1],
  ['BR', 'America/Sao_Paulo', 'pt-BR', 3],
  ['MX', 'America/Mexico_City', 'es-MX', 2],
  ['AU', 'Australia/Sydney', 'en-AU', 3],
  ['JP', 'Asia/Tokyo', 'ja-JP', 2],
  ['IN', 'Asia/Kolkata', 'en-IN', 3],
  ['SG', 'Asia/Singapore', 'en-SG', 1],
];
const PLACE_WEIGHT = PLACES.reduce((sum, p) => sum + p[3], 0);
/** [plan, weight, typical monthly value]. */
const PLANS: [string, number, number][] = [
  ['free', 50, 0],
  ['starter', 25, 19],
  ['pro', 18, 79],
  ['enterprise', 7, 990],
];
const SIGNUP_FROM = Date.UTC(2019, 0, 1);
const SIGNUP_DAYS = 7 * 365;

/** The id of row `index` (0-based): fixed width, so text order is row order. */
export function demoContactId(index: number): string {
  return `cus_${String(index + 1).padStart(8, '0')}`;
}

/** Parses a demo id back to its 0-based index, or null if it is not one. */
export function demoIndexOf(id: string): number | null {
  const m = /^cus_(\d{8})$/.exec(id);
  return m === null ? null : Number(m[1]) - 1;
}

/** Row `index` of the synthetic warehouse for `seed`. */
export function demoRow(seed: number, index: number): DemoRow {
  const v = demoValues(seed, index);
  const row = {} as DemoRow;
  for (let c = 0; c < DEMO_COLUMNS.length; c++) row[DEMO_COLUMNS[c]!] = v[c]!;
  return row;
}

// per-name and per-day strings, built once: rebuilding them per row would be most of a row's cost
const EMAIL_FIRST = FIRST.map((n) => ascii(n).toLowerCase());
const EMAIL_LAST = LAST.map((n) => ascii(n).toLowerCase());
let signupDates: string[] | undefined;
const signupDate = (day: number): string => {
  signupDates ??= Array.from({ length: SIGNUP_DAYS }, (_, d) =>
    new Date(SIGNUP_FROM + d * 86_400_000).toISOString().slice(0, 10),
  );
  return signupDates[day]!;
};

const placeWeight = (p: (typeof PLACES)[number]): number => p[3];
const planWeight = (p: (typeof PLANS)[number]): number => p[1];

/** Row `index` as its values in DEMO_COLUMNS order (what the warehouse port's mapper reads). */
export function demoValues(seed: number, index: number): string[] {
  const f = Math.floor(unitRandom(seed, index, 1) * FIRST.length);
  const l = Math.floor(unitRandom(seed, index, 2) * LAST.length);
  const place = weighted(PLACES, PLACE_WEIGHT, unitRandom(seed, index, 3), placeWeight);
  const plan = weighted(PLANS, 100, unitRandom(seed, index, 4), planWeight);
  const signupDay = Math.floor(unitRandom(seed, index, 5) * SIGNUP_DAYS);
  const months = Math.max(1, Math.floor((SIGNUP_DAYS - signupDay) / 30));
  const value = plan[2] * months * (0.6 + unitRandom(seed, index, 6) * 0.8);
  return [
    demoContactId(index),
    `${EMAIL_FIRST[f]}.${EMAIL_LAST[l]}${index + 1}@${pick(DOMAINS, unitRandom(seed, index, 7))}`,
    FIRST[f]!,
    LAST[l]!,
    pick(COMPANIES, unitRandom(seed, index, 8)),
    place[1],
    place[0],
    place[2],
    plan[0],
    signupDate(signupDay),
    value.toFixed(2),
    unitRandom(seed, index, 9) < 0.85 ? 'true' : 'false',
  ];
}

/** A uniform number in [0, 1) from (seed, index, salt): splitmix32-style integer hash. */
export function unitRandom(seed: number, index: number, salt: number): number {
  let x = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(index | 0, 0x85ebca6b) ^ Math.imul(salt | 0, 0xc2b2ae35)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  x ^= x >>> 15;
  return (x >>> 0) / 4_294_967_296;
}

function pick<T>(items: readonly T[], u: number): T {
  return items[Math.floor(u * items.length)] as T;
}

function weighted<T>(items: readonly T[], total: number, u: number, weight: (t: T) => number): T {
  let target = u * total;
  for (const item of items) {
    target -= weight(item);
    if (target < 0) return item;
  }
  return items[items.length - 1] as T;
}

function ascii(name: string): string {
  return name.normalize('NFD').replace(/[^A-Za-z]/g, '');
}
