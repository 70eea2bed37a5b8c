/**
 * The CRM port: what Switchyard reads from and writes to a customer's CRM (HubSpot, Salesforce,
 * the demo CRM). It is shaped for vendor batch APIs — every method takes a set and is ONE vendor
 * request — so enrichment and engagement sync cost one call per chunk, never one per contact.
 * Vendor shapes (HubSpot properties, Salesforce sObjects) stay in the adapter folders; this file
 * speaks Switchyard's contact ids.
 *
 * Sizing and pacing are declared, not discovered: `maxBatchSize` and `rateLimit` say what one
 * adapter instance may send. Adapters never split or pace on their own; callers go through
 * createCrmBatcher (batcher.ts), which splits into `maxBatchSize` chunks and spaces requests to
 * stay within `rateLimit`. How the known vendors fit (see docs/connectors.md):
 * - HubSpot: CRM v3 `…/batch/read|update` take 100 inputs ⇒ maxBatchSize 100; burst limit
 *   100–190 requests / 10 s per account ⇒ rateLimit { requests: ~80% of it, perMs: 10_000 }.
 *   Opt-outs go through the subscription/communication-preferences API keyed by email.
 * - Salesforce: sObject Collections (`/composite/sobjects`) take 200 records in one API call ⇒
 *   maxBatchSize 200; the budget is daily (rolling 24 h), so rateLimit is derived from the org's
 *   allocation (e.g. { requests: 25, perMs: 1_000 }) and `Sforce-Limit-Info` is watched.
 *
 * Errors (SwitchyardError): CRM_UNAVAILABLE (retryable, with retryAfterMs when the vendor sent
 * Retry-After) for network failures, 429 and 5xx; CRM_AUTH_FAILED (permanent) when the vendor
 * refuses the credentials; VALIDATION_FAILED (permanent) for input the adapter refuses, such as
 * more than `maxBatchSize` items. A vendor error about one record of a batch is not thrown: that
 * record is listed in `failed` with the vendor's message and the rest of the batch stands. An
 * adapter whose vendor budget is shared by several processes may hold a request back on a
 * limiter kept in the store (shared-rate-limit.ts) on top of the batcher's pacing. A failed call may have been partly
 * applied by the vendor; every write here is idempotent, so the caller simply retries it.
 */

/** What the CRM knows about one contact, already normalised out of the vendor's schema. */
export interface CrmRecord {
  /** Switchyard's contact id (the warehouse id the CRM stores as an external id). */
  contactId: string;
  /** The CRM's own id for the record (HubSpot object id, Salesforce 18-char Id). */
  crmId: string;
  /** Lifecycle of the account: e.g. 'prospect' | 'trial' | 'customer' | 'churned'. */
  accountStatus: string;
  /** Commercial tier: e.g. 'smb' | 'mid-market' | 'enterprise'. */
  tier: string;
  /** The account owner (sales rep / CSM), when there is one. */
  owner?: { id: string; name: string; email: string };
  /** Last engagement score Switchyard wrote (0–100), if any. */
  engagementScore?: number;
  lastEngagedAt?: Date;
  /** True when the CRM records an opt-out for this contact. */
  optedOut: boolean;
  /** Further vendor fields, normalised to camelCase names. */
  fields: Record<string, unknown>;
}

export interface EngagementUpdate {
  contactId: string;
  /** 0–100. */
  score: number;
  lastEngagedAt: Date;
}

/** Fields to set on one contact's CRM record; values as the CRM takes them, null clears. */
export interface CrmFieldUpdate {
  contactId: string;
  fields: Record<string, string | number | boolean | null>;
}

export interface OptOutItem {
  /** Known when the opt-out came from a Switchyard contact; absent for email-only requests. */
  contactId?: string;
  email: string;
  /** false records an opt-in again (re-subscribe). */
  optedOut: boolean;
  /** Why, for the CRM's audit trail ('unsubscribe link', 'complaint', 'DSR opt-out', …). */
  reason: string;
}

/** One record of a batch the vendor refused, with the vendor's own message. */
export interface CrmRecordFailure {
  /** The contact id (engagement) or the email (opt-outs) as given. */
  key: string;
  message: string;
}

export interface CrmTask {
  contactId: string;
  /** Task category, e.g. 'reply-follow-up', 'churn-risk'. */
  kind: string;
  title: string;
  body: string;
  /**
   * Optional idempotency key: a repeat call with the same key returns the first task's id and
   * creates nothing (the bus may redeliver the message that asked for the task).
   */
  dedupeKey?: string;
}

/**
 * One change to a contact reported by the CRM (a webhook or a change feed): what the profile
 * cache and list triggers consume. `eventId` is the vendor's, unique per source, so a redelivery
 * is recognised; `properties` holds the CRM property names and their new values (null = cleared).
 */
export interface CrmContactChange {
  source: 'hubspot' | 'salesforce';
  eventId: string;
  kind: 'created' | 'updated' | 'deleted' | 'merged';
  /** The CRM's record id (after a merge: the surviving record). */
  crmId: string;
  /** Switchyard's contact id when the CRM event carries it (else resolve it from crmId). */
  contactId?: string;
  properties: Record<string, string | null>;
  /** Records merged into crmId (kind 'merged'). */
  mergedCrmIds?: string[];
  occurredAt: string;
}

/** What one CRM webhook body became: changes, and events refused or ignored with the reason. */
export interface CrmChangeBatch {
  changes: CrmContactChange[];
  rejected: { index: number; reason: string }[];
  ignored: { index: number; reason: string }[];
}

/**
 * One closed-won deal (HubSpot: a deal in the closed-won stage; Salesforce: an Opportunity with
 * IsWon), with the people it belongs to as Switchyard contact ids (CRM contacts without our id
 * are left out: they have no email touches to credit).
 */
export interface CrmDeal {
  /** The CRM's id of the deal / opportunity. */
  dealId: string;
  /** The amount in minor units (the CRM's decimal amount × 100, rounded). */
  amountMinor: number;
  /** Lower-case ISO 4217; the adapter's default when the CRM records none. */
  currency: string;
  closedAt: Date;
  /** The CRM account (HubSpot company, Salesforce Account) the deal belongs to, when any. */
  accountId?: string;
  /** Contacts on the deal itself (HubSpot deal→contact associations, OpportunityContactRole). */
  dealContactIds: string[];
  /** Every contact of the account (empty without an account). */
  accountContactIds: string[];
}

/**
 * One deal the CRM changed, whatever its stage, for the deal poller: `won` holds the deal as it is
 * now when it is closed-won with an amount, and is absent when it is not (a deal moved out of
 * closed-won, or one that never was: the poller reverses the former and ignores the latter).
 */
export interface CrmDealChange {
  dealId: string;
  /** The vendor's modification stamp: HubSpot hs_lastmodifieddate, Salesforce SystemModstamp. */
  modifiedAt: Date;
  won?: CrmDeal;
}

export interface Crm {
  readonly name: string;
  /** Most items one call may carry (HubSpot 100, Salesforce 200). */
  readonly maxBatchSize: number;
  /** Requests this instance may make per window, across all methods (one call = one request). */
  readonly rateLimit: { requests: number; perMs: number };
  /**
   * Reads the records of up to maxBatchSize contact ids in one request. Ids the CRM does not
   * know are absent from the map (not an error); duplicates are fine. Read-only.
   */
  lookup(ids: readonly string[]): Promise<Map<string, CrmRecord>>;
  /**
   * Writes engagement scores (up to maxBatchSize). Idempotent: the same update twice leaves the
   * same state; an update whose lastEngagedAt is older than the stored one does not regress it.
   * `updated` counts contacts the CRM knows (unknown ids are skipped, not errors); `failed` lists
   * contacts the vendor refused one by one (absent or empty when none was).
   */
  updateEngagement(updates: readonly EngagementUpdate[]): Promise<{ updated: number; failed?: CrmRecordFailure[] }>;
  /**
   * Records opt-outs (and opt-ins) by email, up to maxBatchSize. Idempotent. `confirmed` lists
   * the emails, as given, that the CRM has durably recorded — the compliance road marks a system
   * done only for confirmed emails and retries the rest; `failed` says why for those the vendor
   * refused one by one.
   */
  setOptOut(items: readonly OptOutItem[]): Promise<{ confirmed: string[]; failed?: CrmRecordFailure[] }>;
  /**
   * Sets fields on one contact's record (a journey's `updateCrm` step): HubSpot PATCH
   * /crm/v3/objects/contacts/{id}, Salesforce PATCH /sobjects/Contact/{Id} after its Id is looked
   * up. Field names are the CRM's own (HubSpot property names, Salesforce API field names); null
   * clears a field. Idempotent: the same fields twice hold the same values, so a caller retries a
   * failed call as it is. `updated: false` when the CRM does not know the contact (not an error).
   * Throws CRM_UNAVAILABLE (retryable) as every method does, and VALIDATION_FAILED (permanent)
   * when the vendor refuses the fields (an unknown or read-only field, a bad value), with its message.
   */
  updateFields(update: CrmFieldUpdate): Promise<{ updated: boolean }>;
  /** Creates one follow-up task for the contact's owner (one request). Idempotent by dedupeKey. */
  createTask(task: CrmTask): Promise<{ id: string }>;
  /**
   * Erases the people holding these addresses (a data-subject erasure), up to maxBatchSize.
   * HubSpot: the GDPR delete (permanent, and HubSpot blocks the address from being re-created);
   * Salesforce: deletes the Contact and unconverted Lead records. Idempotent: an address no record
   * holds is listed in `notFound`, so a repeat after success reports it there. `failed` lists
   * addresses the vendor refused one by one with its message (retried by the caller).
   */
  eraseContacts(emails: readonly string[]): Promise<CrmErasure>;
  /**
   * Reads closed-won deals closed on or after `since`, oldest close first, at most `limit` (≤
   * maxBatchSize) per call. `next` is the position after the last deal read (opaque, durable:
   * keyset on close date and id; absent when nothing was read): pass it as `after` to continue,
   * now or in a later poll. `more` is false when this page reached the end for now. Deals
   * without an amount are skipped. Read-only; a page costs a few vendor requests (the deals, their
   * contacts, the accounts' contacts). Errors as the other methods.
   */
  readClosedWonDeals(options: { since: Date; after?: string; limit: number }): Promise<{
    deals: CrmDeal[];
    next?: string;
    more: boolean;
  }>;
  /**
   * Reads deals of any stage modified before `until`, oldest modification first (then by id), at
   * most `limit` (≤ maxBatchSize) per call, from the position `after` (absent: from the first deal
   * the CRM holds). `next` is the keyset (modification stamp, deal id) of the last deal read, opaque
   * and durable, absent when nothing was read; `more` is false when the page reached the end for
   * now. Won deals come with their contacts as readClosedWonDeals gives them. `until` lies a settle
   * time in the past, so a change the vendor indexes or commits late is not skipped. Read-only; a
   * page costs a few vendor requests (HubSpot: one search, paced to the Search API's own limit).
   */
  readChangedDeals(options: { after?: string; until: Date; limit: number }): Promise<{
    changes: CrmDealChange[];
    next?: string;
    more: boolean;
  }>;
}

/** What one eraseContacts call achieved, per address (lower-cased). */
export interface CrmErasure {
  erased: string[];
  notFound: string[];
  failed?: CrmRecordFailure[];
}
