/**
 * Minor units per currency, as Stripe counts them (Stripe is where most of our amounts come from,
 * already in minor units): most currencies have two decimals, the zero-decimal ones none (an
 * amount of 1200 JPY is 1200), the three-decimal ones three. Codes are ISO 4217, any case.
 */
const ZERO_DECIMAL = new Set([
  'bif',
  'clp',
  'djf',
  'gnf',
  'jpy',
  'kmf',
  'krw',
  'mga',
  'pyg',
  'rwf',
  'ugx',
  'vnd',
  'vuv',
  'xaf',
  'xof',
  'xpf',
]);
const THREE_DECIMAL = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);

/** Decimal digits of the currency's minor unit. */
export function minorDigits(currency: string): 0 | 2 | 3 {
  const c = currency.toLowerCase();
  return ZERO_DECIMAL.has(c) ? 0 : THREE_DECIMAL.has(c) ? 3 : 2;
}

/** A decimal amount (number or numeric string, as CRMs print them) in minor units; undefined when it is not one. */
export function decimalToMinor(v: unknown, currency: string): number | undefined {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return undefined;
  const minor = Math.round(n * 10 ** minorDigits(currency));
  return Number.isSafeInteger(minor) ? minor : undefined;
}

/** Minor units as a major amount with the currency's decimals and thousands separators ("1,234.50"). */
export function formatMinor(minor: number, currency: string): string {
  const digits = minorDigits(currency);
  const sign = minor < 0 ? '-' : '';
  const abs = Math.abs(Math.round(minor));
  const unit = 10 ** digits;
  const major = Math.floor(abs / unit).toLocaleString('en-US');
  return digits === 0 ? `${sign}${major}` : `${sign}${major}.${String(abs % unit).padStart(digits, '0')}`;
}
