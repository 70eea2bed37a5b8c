/**
 * Human clicks → `link.clicked`: the `clicks` group turns each human click of a reaction batch
 * into one message that journeys match on by tag. Scanner clicks (isMachine) and clicks we cannot
 * tie to a contact are not published. Message ids derive from the click's sourceId, so a
 * redelivered batch republishes the same ids and the bus drops the duplicates.
 */
import type { Bus } from '../bus/port.ts';
import type { StageDefinition } from '../bus/stage.ts';
import { consumerOf, publishTo, TOPICS, type LinkClickedPayload, type ReactionBatch } from '../bus/topics.ts';

/** Segments that are ids, not topics (numbers, long hex/uuid-like tokens) make poor tags. */
function isIdLike(segment: string): boolean {
  return /^\d+$/.test(segment) || /^[0-9a-f-]{16,}$/.test(segment);
}

/**
 * The tags of a destination URL: its utm_campaign and utm_content values, its host and its
 * path segments (decoded, lower-cased, file extensions dropped, id-like segments skipped).
 * A URL that does not parse has no tags.
 */
export function linkTags(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [];
  }
  const tags: string[] = [];
  for (const key of ['utm_campaign', 'utm_content'] as const) {
    for (const value of parsed.searchParams.getAll(key)) {
      const v = value.trim().toLowerCase();
      if (v !== '') tags.push(`${key}:${v}`);
    }
  }
  if (parsed.hostname !== '') tags.push(`host:${parsed.hostname.toLowerCase().replace(/^www\./, '')}`);
  for (const raw of parsed.pathname.split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      segment = raw;
    }
    segment = segment
      .trim()
      .toLowerCase()
      .replace(/\.(html?|php|aspx?)$/, '');
    if (segment !== '' && !isIdLike(segment)) tags.push(`path:${segment}`);
  }
  return [...new Set(tags)];
}

/** The link.clicked messages of one reaction batch (human clicks with a contact and a URL). */
export function toLinkClicks(batch: ReactionBatch): { id: string; key: string; payload: LinkClickedPayload }[] {
  return batch.events.flatMap((e) => {
    if (e.type !== 'clicked' || e.isMachine || e.contactId === null || e.url === null) return [];
    return [
      {
        id: `clicked:${e.sourceId}`,
        key: e.contactId,
        payload: {
          contactId: e.contactId,
          campaignId: e.campaignId,
          url: e.url,
          tags: linkTags(e.url),
          sourceId: e.sourceId,
          occurredAt: e.occurredAt,
        },
      },
    ];
  });
}

export function clicksStage(deps: { bus: Bus }): StageDefinition {
  return {
    name: 'clicks',
    consumers: [
      consumerOf({ topic: TOPICS.reactions, group: 'clicks', batchSize: 20 }, async (m) => {
        const messages = toLinkClicks(m.payload);
        if (messages.length > 0) await publishTo(deps.bus, TOPICS.linkClicked, messages);
      }),
    ],
  };
}
