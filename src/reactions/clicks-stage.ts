/**
 * Human clicks → `link.clicked`: the `clicks` group turns the human clicks of a reaction batch into
 * one message (a chunk, not one per click: per-click messages were the pipeline's costliest bus
 * traffic) that journeys and profiles match on by tag. Scanner clicks (isMachine) and clicks we
 * cannot tie to a contact are not published. The chunk's id derives from the reaction batch's id,
 * so a redelivered batch republishes the same id and the bus drops the duplicate.
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

/** The human clicks of one reaction batch that have a contact and a URL, in batch order. */
export function toLinkClicks(batch: ReactionBatch): LinkClickedPayload[] {
  return batch.events.flatMap((e) => {
    if (e.type !== 'clicked' || e.isMachine || e.contactId === null || e.url === null) return [];
    return [
      {
        contactId: e.contactId,
        campaignId: e.campaignId,
        url: e.url,
        tags: linkTags(e.url),
        sourceId: e.sourceId,
        occurredAt: e.occurredAt,
      },
    ];
  });
}

/** The link.clicked chunk id of a reaction batch's clicks. */
export const clicksMessageId = (reactionMessageId: string): string => `clicks:${reactionMessageId}`;

export function clicksStage(deps: { bus: Bus }): StageDefinition {
  return {
    name: 'clicks',
    consumers: [
      consumerOf({ topic: TOPICS.reactions, group: 'clicks', batchSize: 20 }, async (m) => {
        const clicks = toLinkClicks(m.payload);
        if (clicks.length > 0)
          await publishTo(deps.bus, TOPICS.linkClicked, [{ id: clicksMessageId(m.id), payload: { clicks } }]);
      }),
    ],
  };
}
