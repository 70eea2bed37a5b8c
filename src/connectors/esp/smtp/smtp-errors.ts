/**
 * Maps an SMTP failure (as nodemailer reports it) to a SwitchyardError. Pure: no I/O. The basic
 * reply code decides permanent vs retryable (RFC 5321: 5yz permanent, 4yz transient); the enhanced
 * code (RFC 3463) refines it: x.7.x is policy, so a 4.7.x is a rate limit and a 5.7.x is a refusal of
 * the message or sender (reputation, DMARC), never of the address, so it must not suppress anyone.
 */
import { SwitchyardError } from '../../../core/errors.ts';

/** What nodemailer puts on its errors (all optional: connection errors have no reply). */
export interface SmtpFailure {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  message?: string;
}

const ENHANCED = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/;

/** The enhanced status code in an SMTP reply line ("550 5.1.1 …" → "5.1.1"), if any. */
export function parseEnhancedCode(response: string | undefined): string | undefined {
  return response === undefined ? undefined : ENHANCED.exec(response)?.[1];
}

export function mapSmtpError(failure: SmtpFailure, cause?: unknown): SwitchyardError {
  const status = failure.responseCode;
  const enhanced = parseEnhancedCode(failure.response);
  const details = {
    smtpCode: status,
    enhanced,
    response: failure.response,
    command: failure.command,
    transportCode: failure.code,
  };
  const opts = (retryable: boolean) => ({ retryable, details, cause });
  const text = failure.response ?? failure.message ?? 'no reply';

  if (status === 535 || status === 534 || status === 530 || failure.code === 'EAUTH') {
    return new SwitchyardError('ESP_AUTH_FAILED', `SMTP server refused our credentials: ${text}`, opts(false));
  }
  if (status === undefined) {
    return new SwitchyardError(
      'ESP_UNAVAILABLE',
      `SMTP server unreachable or the connection failed (${failure.code ?? 'unknown'}): ${failure.message ?? ''}`,
      opts(true),
    );
  }
  if (status >= 400 && status < 500) {
    if (enhanced?.startsWith('4.7.')) {
      return new SwitchyardError('ESP_RATE_LIMITED', `SMTP server deferred us (rate/policy): ${text}`, opts(true));
    }
    return new SwitchyardError('ESP_UNAVAILABLE', `SMTP server failed temporarily: ${text}`, opts(true));
  }
  if (status >= 500) {
    const isPolicy = enhanced?.startsWith('5.7.') === true;
    const isRecipient =
      !isPolicy
      && (enhanced?.startsWith('5.1.') === true
        || enhanced === '5.2.1'
        || ((status === 550 || status === 551 || status === 553) && enhanced === undefined)
        || ((status === 550 || status === 551 || status === 553) && failure.command === 'RCPT TO'));
    if (isRecipient) {
      return new SwitchyardError('ESP_RECIPIENT_REJECTED', `SMTP server refused the recipient: ${text}`, opts(false));
    }
    return new SwitchyardError('ESP_MESSAGE_REJECTED', `SMTP server refused the message: ${text}`, opts(false));
  }
  return new SwitchyardError('ESP_UNAVAILABLE', `Unexpected SMTP reply: ${text}`, opts(true));
}
