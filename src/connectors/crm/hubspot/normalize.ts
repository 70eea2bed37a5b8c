/**
 * HubSpot webhook body → contact changes. HubSpot posts a JSON array of up to 100 events
 * (connectors.md §1): `eventId`, `portalId`, `occurredAt` (ms), `subscriptionType`, `objectId`, and
 * `propertyName`/`propertyValue` for property changes, `primaryObjectId`/`mergedObjectIds`
 * (and `newObjectId`, the surviving record, when HubSpot sends it) for merges. Contact creations,
 * property changes, deletions (privacy deletions too) and merges become
 * changes; other object types and subscription types are ignored with the reason; a malformed
 * event is rejected alone. Pure; throws WEBHOOK_PAYLOAD_INVALID only when the body is not an array.
 */
import { SwitchyardError } from '../../../core/errors.ts';
import type { CrmChangeBatch, CrmContactChange } from '../port.ts';

const KINDS: Record<string, CrmContactChange['kind']> = {
  'contact.creation': 'created',
  'contact.propertyChange': 'updated',
  'contact.deletion': 'deleted',
  'contact.privacyDeletion': 'deleted',
  'contact.merge': 'merged',
};

const isId = (v: unknown): boolean =>
  (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) || (typeof v === 'string' && /^\d{1,20}$/.test(v));

export function normalize(body: unknown): CrmChangeBatch {
  if (!Array.isArray(body))
    throw new SwitchyardError('WEBHOOK_PAYLOAD_INVALID', 'HubSpot webhook body must be a JSON array of events');
  const out: CrmChangeBatch = { changes: [], rejected: [], ignored: [] };
  body.forEach((raw: unknown, index) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      out.rejected.push({ index, reason: 'event is not an object' });
      return;
    }
    const e = raw as Record<string, unknown>;
    const type = e.subscriptionType;
    if (typeof type !== 'string') {
      out.rejected.push({ index, reason: 'event has no subscriptionType' });
      return;
    }
    const kind = KINDS[type];
    if (kind === undefined) {
      out.ignored.push({ index, reason: `subscription type ${type.slice(0, 60)} is not a contact change we carry` });
      return;
    }
    if (!isId(e.eventId) || !isId(e.portalId)) {
      out.rejected.push({ index, reason: 'eventId and portalId must be numeric ids' });
      return;
    }
    if (typeof e.occurredAt !== 'number' || !Number.isFinite(e.occurredAt) || e.occurredAt < 0) {
      out.rejected.push({ index, reason: 'occurredAt must be epoch milliseconds' });
      return;
    }
    const crmIdRaw = kind === 'merged' ? (e.newObjectId ?? e.primaryObjectId ?? e.objectId) : e.objectId;
    if (!isId(crmIdRaw)) {
      out.rejected.push({
        index,
        reason: `${kind === 'merged' ? 'primaryObjectId' : 'objectId'} must be a numeric id`,
      });
      return;
    }
    const change: CrmContactChange = {
      source: 'hubspot',
      eventId: `${String(e.portalId)}:${String(e.eventId)}`,
      kind,
      crmId: String(crmIdRaw),
      properties: {},
      occurredAt: new Date(e.occurredAt).toISOString(),
    };
    if (kind === 'updated') {
      if (typeof e.propertyName !== 'string' || e.propertyName === '') {
        out.rejected.push({ index, reason: 'a property change needs propertyName' });
        return;
      }
      const v = e.propertyValue;
      change.properties[e.propertyName] = v === undefined || v === null || v === '' ? null : String(v);
    }
    if (kind === 'merged') {
      const merged = e.mergedObjectIds;
      if (!Array.isArray(merged) || !merged.every(isId)) {
        out.rejected.push({ index, reason: 'a merge needs mergedObjectIds, an array of numeric ids' });
        return;
      }
      const gone = [...merged.map(String), ...(isId(e.primaryObjectId) ? [String(e.primaryObjectId)] : [])];
      change.mergedCrmIds = [...new Set(gone)].filter((id) => id !== change.crmId);
    }
    out.changes.push(change);
  });
  return out;
}
