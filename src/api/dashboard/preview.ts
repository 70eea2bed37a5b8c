/**
 * The Campaigns page's preview: the audience size when the source states it (the demo workspace,
 * a list's members now; a warehouse query or file is counted only as selection reads it) and the
 * message the audience's first contact would get, rendered by the campaign service with its
 * preview-only secrets.
 */
import type { CampaignService } from '../../campaigns/service.ts';
import type { Audience } from '../../campaigns/types.ts';
import type { OutboundMessage } from '../../connectors/esp/port.ts';
import type { Warehouse } from '../../connectors/warehouse/port.ts';
import { isSwitchyardError, SwitchyardError } from '../../core/errors.ts';

export interface CampaignPreview {
  /** Contacts in the audience when the source states it up front; null otherwise. */
  audienceCount: number | null;
  /** Rendered for the first contact the audience source returns; null when the audience is empty. */
  sample: { contactId: string; message: OutboundMessage } | null;
}

export interface PreviewDeps {
  campaigns: Pick<CampaignService, 'get' | 'preview'>;
  openWarehouse(audience: Audience): Warehouse;
  /** The demo workspace's default size (SWITCHYARD_DEMO_SIZE). */
  demoSize: number;
  /**
   * A list audience as it stands now: its size and a member with an address. Reading the list
   * through the campaign's audience would freeze it, which only the campaign's start may do.
   */
  listNow(listId: string): Promise<{ count: number; first: AudienceContact | undefined }>;
}

type AudienceContact = { id: string; email: string; fields: Record<string, unknown> };

export async function previewCampaign(deps: PreviewDeps, id: string): Promise<CampaignPreview> {
  const c = await deps.campaigns.get(id);
  const audience = c.definition.audience;
  let audienceCount: number | null = null;
  let first: AudienceContact | undefined;
  if (audience.source === 'list') {
    ({ count: audienceCount, first } = await deps.listNow(audience.list));
  } else {
    if (audience.source === 'demo') audienceCount = audience.size ?? deps.demoSize;
    first = await firstOfSource(deps, audience);
  }
  if (first === undefined) return { audienceCount, sample: null };
  const message = await deps.campaigns.preview(id, { ...first.fields, id: first.id, email: first.email });
  return { audienceCount, sample: { contactId: first.id, message } };
}

async function firstOfSource(deps: PreviewDeps, audience: Audience): Promise<AudienceContact | undefined> {
  const query = audience.source === 'postgres' ? { sql: audience.sql, table: audience.table } : {};
  const abort = new AbortController();
  try {
    for await (const batch of deps.openWarehouse(audience).stream(query, { batchSize: 1, signal: abort.signal })) {
      if (batch.rows[0] !== undefined) return batch.rows[0];
    }
    return undefined;
  } catch (err) {
    // the source's own error code (unreachable, path not allowed), never its message text
    if (isSwitchyardError(err)) throw err;
    throw new SwitchyardError('WAREHOUSE_UNREACHABLE', 'the audience source could not be read for a preview');
  } finally {
    abort.abort();
  }
}
