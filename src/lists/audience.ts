/**
 * A campaign audience that is a list (`{"source":"list","list":"<id>"}`), as a Warehouse: the
 * first read of a campaign freezes the list's members into campaign_list_audiences (one
 * statement, guarded by campaign_list_frozen so a re-run step or a second process never freezes
 * twice), and every read streams that frozen set in contact order (keyset), joined to the profiles
 * for the address and fields. Later list changes do not change a running campaign's audience.
 * The campaign id arrives as the query's only parameter (the select stage passes it).
 */
import type { MappedContact, RejectedRow, Warehouse, WarehouseQuery } from '../connectors/warehouse/port.ts';
import { SwitchyardError } from '../core/errors.ts';
import type { Db } from '../store/port.ts';

const FREEZE = `
  with frozen as (
    insert into campaign_list_frozen (campaign_id, list_id, members, frozen_at)
    values ($1, $2, 0, $3) on conflict (campaign_id) do nothing returning campaign_id
  )
  insert into campaign_list_audiences (campaign_id, contact_id)
  select f.campaign_id, m.contact_id from frozen f join list_members m on m.list_id = $2
  on conflict do nothing`;

const PAGE = `
  select a.contact_id, p.email, p.attributes::text as attributes from campaign_list_audiences a
  left join contact_profiles p on p.contact_id = a.contact_id
  where a.campaign_id = $1 and a.contact_id > $2 order by a.contact_id limit $3`;

const EMAIL = /^[^\s@]+@[^\s@]+$/;

export function createListAudience(deps: { db: Db; now: () => Date }, listId: string): Warehouse {
  const { db } = deps;
  async function mustExist(): Promise<void> {
    const { rows } = await db.query(`select 1 from lists where id = $1 and deleted_at is null`, [listId]);
    if (rows.length === 0) throw new SwitchyardError('CAMPAIGN_INVALID', `audience list "${listId}" does not exist`);
  }
  function campaignOf(query: WarehouseQuery): string {
    const id = query.params?.[0];
    if (typeof id !== 'string')
      throw new SwitchyardError('VALIDATION_FAILED', 'a list audience is read for a campaign');
    return id;
  }
  return {
    name: 'list',
    check: () => mustExist(),
    async *stream(query, options) {
      const campaignId = campaignOf(query);
      if (query.afterKey === undefined) {
        const frozen = await db.query(`select 1 from campaign_list_frozen where campaign_id = $1`, [campaignId]);
        if (frozen.rows.length === 0) {
          await mustExist();
          await db.transaction(async (tx) => {
            await tx.query(FREEZE, [campaignId, listId, deps.now()]);
            await tx.query(
              `update campaign_list_frozen
               set members = (select count(*) from campaign_list_audiences where campaign_id = $1)
               where campaign_id = $1`,
              [campaignId],
            );
          });
        }
      }
      let after = query.afterKey ?? '';
      let position = 0;
      for (;;) {
        if (options.signal?.aborted) throw options.signal.reason;
        const { rows } = await db.query<{ contact_id: string; email: string | null; attributes: string | null }>(PAGE, [
          campaignId,
          after,
          options.batchSize,
        ]);
        if (rows.length === 0) return;
        options.onRowsRead?.(rows.length);
        const accepted: MappedContact[] = [];
        const rejected: RejectedRow[] = [];
        for (const r of rows) {
          position += 1;
          const fields = r.attributes === null ? {} : (JSON.parse(r.attributes) as Record<string, unknown>);
          const email = r.email?.trim();
          if (email === undefined || !EMAIL.test(email)) {
            rejected.push({
              rowNumber: position,
              reason: 'column "email": the profile has no usable address',
              raw: { id: r.contact_id },
            });
            continue;
          }
          const at = email.lastIndexOf('@');
          accepted.push({
            id: r.contact_id,
            email: `${email.slice(0, at)}@${email.slice(at + 1).toLowerCase()}`,
            ...(typeof fields.timezone === 'string' ? { timezone: fields.timezone } : {}),
            ...(typeof fields.country === 'string' ? { country: fields.country.toUpperCase() } : {}),
            ...(typeof fields.locale === 'string' ? { locale: fields.locale } : {}),
            fields,
          });
        }
        after = rows[rows.length - 1]?.contact_id ?? after;
        yield { rows: accepted, rejected, cursor: after };
        if (rows.length < options.batchSize) return;
      }
    },
  };
}
