/**
 * Tells machine opens (Apple Mail Privacy Protection and other prefetchers) and security-scanner
 * clicks apart from human ones, using the signals in esp.md §7. Pure: every input, including how
 * long after the send the hit came, is passed in; nothing here reads the clock or the network.
 * Machine events are kept and flagged (isMachine), never dropped; callers exclude them from
 * scoring, send-time optimisation, journeys and attribution by default.
 * The numeric thresholds are our defaults (esp.md marks them as heuristics).
 */

export type MachineReason =
  | 'provider-flag'
  | 'apple-proxy'
  | 'prefetch-soon-after-send'
  | 'click-soon-after-send'
  | 'click-before-open'
  | 'burst-of-links'
  | 'head-request'
  | 'honeypot-link'
  | 'scanner-user-agent';

export interface MachineVerdict {
  isMachine: boolean;
  reasons: MachineReason[];
}

export interface OpenSignals {
  userAgent?: string;
  ip?: string;
  /** Seconds between delivery (or send) and this open, when known. */
  secondsSinceSend?: number;
  /** The ESP's own verdict, e.g. SendGrid `sg_machine_open`. */
  providerSaysMachine?: boolean;
}

export interface ClickSignals {
  userAgent?: string;
  ip?: string;
  /** Seconds between delivery (or send) and this click, when known. */
  secondsSinceSend?: number;
  /** false when we know the message had not been opened before this click. */
  hasOpenedBefore?: boolean;
  /** How many *other* links of the same message were clicked within 2 s of this one. */
  otherLinksClickedWithin2s?: number;
  /** HTTP method seen by our redirector. */
  method?: string;
  /** The link is an invisible honeypot link (definitive). */
  isHoneypotLink?: boolean;
}

/** Opens this soon after delivery are prefetches (Apple MPP fetches in the background). */
export const PREFETCH_WINDOW_SECONDS = 60;
/** Clicks this soon after delivery come from link scanners, not people. */
export const SCANNER_CLICK_WINDOW_SECONDS = 10;

/** A bare `Mozilla/5.0` with no OS or client tokens is what Apple's image proxy sends. */
function isBareMozilla(userAgent: string | undefined): boolean {
  return userAgent !== undefined && /^mozilla\/5\.0$/i.test(userAgent.trim());
}

/** Apple owns 17.0.0.0/8 (esp.md §7; the proxy egress ranges beyond it are unverified). */
function isAppleIp(ip: string | undefined): boolean {
  if (ip === undefined) return false;
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  const parts = v4.split('.');
  return parts.length === 4 && parts[0] === '17' && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

const SCANNER_UA = new RegExp(
  [
    'safe ?links',
    'headlesschrome',
    'mimecast',
    'proofpoint',
    'barracuda',
    'symantec',
    'forcepoint',
    'trendmicro',
    'bingpreview',
    'python-requests',
    'curl\\/',
    'go-http-client',
    'wget\\/',
  ].join('|'),
  'i',
);

/** Is this user agent a known link scanner or headless browser? */
export function isScannerUserAgent(userAgent: string | undefined): boolean {
  return userAgent !== undefined && SCANNER_UA.test(userAgent);
}

/**
 * Classifies an open. Gmail's image proxy (GoogleImageProxy) is *not* machine: it fetches once
 * when the human opens (esp.md §7), so it is a real open.
 */
export function classifyOpen(s: OpenSignals): MachineVerdict {
  const reasons: MachineReason[] = [];
  if (s.providerSaysMachine === true) reasons.push('provider-flag');
  if (isBareMozilla(s.userAgent) && isAppleIp(s.ip)) reasons.push('apple-proxy');
  if (s.secondsSinceSend !== undefined && s.secondsSinceSend >= 0 && s.secondsSinceSend <= PREFETCH_WINDOW_SECONDS) {
    reasons.push('prefetch-soon-after-send');
  }
  return { isMachine: reasons.length > 0, reasons };
}

/** Classifies a click: scanners click fast, click everything at once, and click what people cannot see. */
export function classifyClick(s: ClickSignals): MachineVerdict {
  const reasons: MachineReason[] = [];
  if (
    s.secondsSinceSend !== undefined
    && s.secondsSinceSend >= 0
    && s.secondsSinceSend <= SCANNER_CLICK_WINDOW_SECONDS
  ) {
    reasons.push('click-soon-after-send');
  }
  if (s.hasOpenedBefore === false) reasons.push('click-before-open');
  if ((s.otherLinksClickedWithin2s ?? 0) > 0) reasons.push('burst-of-links');
  if (s.method !== undefined && s.method.toUpperCase() === 'HEAD') reasons.push('head-request');
  if (s.isHoneypotLink === true) reasons.push('honeypot-link');
  if (isScannerUserAgent(s.userAgent)) reasons.push('scanner-user-agent');
  return { isMachine: reasons.length > 0, reasons };
}

/** True when the open was most likely made by a privacy proxy or prefetcher, not a person. */
export function isMachineOpen(s: OpenSignals): boolean {
  return classifyOpen(s).isMachine;
}

/** True when the click was most likely made by a security scanner, not a person. */
export function isScannerClick(s: ClickSignals): boolean {
  return classifyClick(s).isMachine;
}
