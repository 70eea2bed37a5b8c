/**
 * Attachment limits shared by the HTTP ESP adapters: each vendor caps the whole message, and the
 * files (sent base64 on every wire) are what can push one past it, so an adapter refuses an
 * oversized set before any request, as a permanent ESP_MESSAGE_REJECTED naming the limit, rather
 * than letting the vendor answer 413 / 400 with a message that differs per vendor.
 */
import { createHash } from 'node:crypto';
import { SwitchyardError } from '../../core/errors.ts';
import type { Attachment, OutboundMessage } from './port.ts';

/** Base64 characters of the message's files: what they cost on the wire, the conservative measure. */
export function attachmentWireBytes(files: readonly Attachment[] | undefined): number {
  let n = 0;
  for (const f of files ?? []) n += f.contentBase64.length;
  return n;
}

/** The refusal for a message whose files exceed `limitBytes`, or undefined when they fit. */
export function oversizedAttachments(
  vendor: string,
  msg: OutboundMessage,
  limitBytes: number,
): SwitchyardError | undefined {
  const bytes = attachmentWireBytes(msg.attachments);
  if (bytes <= limitBytes) return undefined;
  return new SwitchyardError(
    'ESP_MESSAGE_REJECTED',
    `${vendor}: the attachments take ${bytes} bytes base64, more than the ${limitBytes} a message may carry`,
    { details: { limitBytes, bytes, files: msg.attachments?.length ?? 0 } },
  );
}

/** A digest of the files, for grouping messages that share content into one request ('' for none). */
export function attachmentKey(files: readonly Attachment[] | undefined): string {
  if (files === undefined || files.length === 0) return '';
  const h = createHash('sha256');
  for (const f of files) h.update(`${f.filename}\n${f.contentType}\n${f.contentBase64}\n`);
  return h.digest('hex');
}
