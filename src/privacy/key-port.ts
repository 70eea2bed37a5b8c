/**
 * The master-key port: wraps and unwraps per-subject data keys. The local adapter holds the master
 * keys from config in memory; a KMS adapter (AWS KMS, Vault transit) implements the same two
 * set-wise calls, so one chunk of recipients costs one round trip, never one per recipient.
 * Data keys never leave the privacy module; the port never sees what they encrypt.
 */

/** One data key to wrap, bound to its subject (the subject id is the authenticated context). */
export interface DataKeyToWrap {
  /** The subject's id (its 16-byte blind index), bound into the wrap so a wrapped key cannot be moved. */
  subject: Buffer;
  /**
   * The subject's key material: 32 random bytes (its AES-256 data key), then, for keys created
   * since decision 0033, the subject's normalised address (its identity, zero-padded to a multiple
   * of 8 bytes). Wrapped and unwrapped whole: destroying the row destroys both.
   */
  key: Buffer;
}

export interface WrappedDataKey {
  subject: Buffer;
  /** Which master key wrapped it (the adapter's own id; stored beside the wrapped key). */
  masterKeyId: string;
  wrapped: Buffer;
}

export interface MasterKeys {
  readonly name: string;
  /** The master key new data keys are wrapped with; rotation rewraps everything else to it. */
  readonly currentKeyId: string;
  /**
   * Wraps each key with the current master key, in order. Pure with respect to the store: the
   * caller persists the result. Throws SwitchyardError PII_KEY_UNAVAILABLE when the KMS is down
   * (retryable).
   */
  wrap(keys: readonly DataKeyToWrap[]): Promise<WrappedDataKey[]>;
  /**
   * `wrap` of a batch laid out in one buffer (a chunk of new subjects, without an object per key):
   * `staged` holds each key's material (`materialBytes` long) followed by its 16-byte subject, side
   * by side. Returns the wrapped keys side by side, each `width` bytes (the same for the whole
   * batch), under the current master key: byte for byte what `wrap` gives for the same keys.
   */
  wrapPacked(staged: Buffer, materialBytes: number): Promise<{ wrapped: Buffer; width: number }>;
  /**
   * Unwraps each key's material (as given to `wrap`), in order. A key wrapped by a master key this
   * adapter no longer holds, or whose wrap fails authentication (tampered, moved to another
   * subject), throws PII_KEY_UNAVAILABLE (not retryable): the data under it is unreadable until
   * that master key is configured again.
   */
  unwrap(keys: readonly WrappedDataKey[]): Promise<Buffer[]>;
  /** Can this adapter unwrap keys wrapped by `masterKeyId`? (rotation keeps old ids until rewrapped) */
  holds(masterKeyId: string): boolean;
}
