/**
 * The Campaigns page's preview: the audience size when the source states it (the demo workspace;
 * other sources are counted only as selection reads them) and the message the audience's first
 * contact would get, rendered by the campaign service with its preview-only secrets.
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
}

export async function previewCampaign(deps: PreviewDeps, id: string): Promise<CampaignPreview> {
  const c = await deps.campaigns.get(id);
  const audience = c.definition.audience;
  const query = audience.source === 'postgres' ? { sql: audience.sql, table: audience.table } : {};
  const abort = new AbortController();
  let first: { id: string; email: string; fields: Record<string, unknown> } | undefined;
  try {
    for await (const batch of deps.openWarehouse(audience).stream(query, { batchSize: 1, signal: abort.signal })) {
      first = batch.rows[0];
      if (first !== undefined) break;
    }
  } catch (err) {
    // the source's own error code (unreachable, path not allowed), never its message text
    if (isSwitchyardError(err)) throw err;
    throw new SwitchyardError('WAREHOUSE_UNREACHABLE', 'the audience source could not be read for a preview');
  } finally {
    abort.abort();
  }
  const audienceCount = audience.source === 'demo' ? (audience.size ?? deps.demoSize) : null;
  if (first === undefined) return { audienceCount, sample: null };
  const message = await deps.campaigns.preview(id, { ...first.fields, id: first.id, email: first.email });
  return { audienceCount, sample: { contactId: first.id, message } };
}
