/**
 * How Switchyard topics and groups map onto JetStream names, and what a delivery's ack subject
 * says. Pure: no connection. A topic family (the topic's first token: `blast`, `reaction`) is one
 * stream; a topic's messages go to `<prefix>.<topic>.m`, and copies meant for one group only (a
 * dead letter put back) to `<prefix>.<topic>.r-<group>`. A group's durable consumer filters
 * `<prefix>.<topic>.*`, which no other topic's subjects match (they have more tokens).
 */
import { createHash } from 'node:crypto';
import { SwitchyardError } from '../../core/errors.ts';

/** The port's topic rule, plus what a subject needs: no empty token. */
const TOPIC_PATTERN = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9_-]+)*$/;
const GROUP_PATTERN = /^[A-Za-z0-9_-]{1,100}$/;

export function checkTopic(topic: string): void {
  if (topic.length > 200 || !TOPIC_PATTERN.test(topic))
    throw new SwitchyardError('BUS_MESSAGE_INVALID', `invalid topic name ${JSON.stringify(topic)}`);
}

export function checkGroup(group: string): void {
  if (!GROUP_PATTERN.test(group))
    throw new SwitchyardError('BUS_MESSAGE_INVALID', `invalid group name ${JSON.stringify(group)}`);
}

export function streamName(prefix: string, topic: string): string {
  return `${prefix}_${topic.split('.')[0]!}`.replaceAll('.', '_').toUpperCase();
}

export function streamSubjects(prefix: string, topic: string): string {
  return `${prefix}.${topic.split('.')[0]!}.>`;
}

export function messageSubject(prefix: string, topic: string): string {
  return `${prefix}.${topic}.m`;
}

export function groupSubject(prefix: string, topic: string, group: string): string {
  return `${prefix}.${topic}.r-${group}`;
}

export function consumerFilter(prefix: string, topic: string): string {
  return `${prefix}.${topic}.*`;
}

/** Tiny core-NATS subject a publish pings so idle consumers of the topic fetch at once. */
export function wakeSubject(prefix: string, topic: string): string {
  return `${prefix}._wake.${topic}`;
}

/** Durable names allow no dots; a short hash keeps `a.b`/`a_b` and long names apart. */
export function consumerName(topic: string, group: string): string {
  const hash = createHash('sha1').update(`${group}\u0000${topic}`).digest('hex').slice(0, 10);
  const readable = `${group}-${topic.replaceAll('.', '_')}`.slice(0, 60);
  return `${readable}-${hash}`;
}

/** The group a `r-<group>` subject is meant for; null for a message every group gets. */
export function targetGroup(subject: string): string | null {
  const last = subject.slice(subject.lastIndexOf('.') + 1);
  return last.startsWith('r-') ? last.slice(2) : null;
}

export interface AckInfo {
  /** How many times the broker has delivered this message to the group (1 first). */
  deliveries: number;
  streamSeq: number;
  /** When the stream stored the message. */
  publishedAt: Date;
}

/** `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ns>.<pending>` (and the v2 form with
 *  domain and account hash in front). */
export function parseAckSubject(reply: string): AckInfo {
  const t = reply.split('.');
  const off = t.length >= 11 ? 2 : 0; // v2 adds <domain>.<account hash> in front (and a token at the end)
  const n = (i: number): number => Number(t[off + i]);
  if (t[0] !== '$JS' || t[1] !== 'ACK' || t.length - off < 9)
    throw new SwitchyardError('BUS_MESSAGE_INVALID', 'unexpected JetStream ack subject');
  return {
    deliveries: n(4),
    streamSeq: n(5),
    publishedAt: new Date(Math.floor(Number(BigInt(t[off + 7]!) / 1_000_000n))),
  };
}
