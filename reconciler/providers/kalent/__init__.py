"""The Kalent adapter: sourcings, sequence blueprints, and per-candidate dynamic sequences.

Choices where the vendor documents nothing (docs/vendors.md, Kalent):
- Auth is the documented `x-api-key` header. Sourcings are listed with the vendor's default
  filters (the key owner's in-progress sourcings); a manifest names one by name or id.
- No list of dynamic sequences exists, so memberships are read one GET per candidate, and only
  when needed: never for a candidate the state cache knows finished/failed, for active/paused ones
  only when older than `status_refresh_minutes` (or `--refresh`), always without a cache entry (a
  lost run may have started it).
- A candidate runs one dynamic sequence at a time: the latest one belonging to another blueprint is
  a `conflict` (a human decides; campaignctl never starts over it), remembered in the cache with
  reason `another_blueprint` so it is re-read rather than forgotten.
- `start` has no idempotency key: it is never retried blind; a lost answer, a 5xx or
  `started: false` makes every member of the batch OutcomeUnknown, resolved by reading.
- Starts are asynchronous: "no sequence" within `start_settle_minutes` of a start proves nothing, so
  resolve_enrollment raises OutcomeUnknown then, and a read keeps a just-started cached enrollment.
- A candidate the status endpoint does not know (404) never reads as absent (Kalent documents
  `sequence: null` for that): a cached enrollment keeps its last known status with a warning, an
  uncached member is `manual` with the reason. A status answer without `data.sequence` is an error.
"""

from reconciler.providers.kalent.provider import KalentProvider

__all__ = ["KalentProvider"]
