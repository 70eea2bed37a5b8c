/**
 * The inbound SMTP listener (bounces, complaints, replies) from its slice: it accepts mail for the
 * configured domains and for signed VERP return paths on any domain, and hands each message to
 * the inbound handler.
 */
import type { InboundSmtpConfig } from '../config.ts';
import { decideRecipient } from '../core/inbound/recipients.ts';
import { createInboundHandler, type InboundHandlerDeps } from '../reactions/inbound-handler.ts';
import {
  createInboundSmtpListener,
  type InboundSmtpListener,
  type InboundSmtpListenerDeps,
} from '../reactions/inbound/smtp-listener.ts';

/** Largest inbound message accepted. */
const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

export function createInboundListener(
  inbound: InboundSmtpConfig,
  deps: InboundHandlerDeps & Pick<InboundSmtpListenerDeps, 'log'> & { verpSecrets: readonly string[] },
): InboundSmtpListener {
  const { domains, ...listenerOptions } = inbound;
  const policy = { domains: [...domains], verpSecrets: deps.verpSecrets, addresses: deps.privacyAddresses ?? [] };
  const { log, ...handlerDeps } = deps;
  return createInboundSmtpListener(
    {
      log,
      acceptRecipient: (address) => decideRecipient(address, policy).accept,
      onMessage: createInboundHandler(handlerDeps),
    },
    { ...listenerOptions, maxMessageBytes: MAX_MESSAGE_BYTES },
  );
}
