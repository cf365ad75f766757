"""Gary Club adapter: sequences (enrollments) and CRM deals (cards) over the public REST API.

Base `https://agency.gary.club/api/public/v1`, `Authorization: Bearer <key>`; with an agency key
(`gc_live_…`) and `client_id` configured, `X-Gary-Client-Id` acts as that client (never sent with
a client key, which the API answers with 400). Every list is cursor-paged at limit 200.

Choices where the documentation is silent:
- Contacts are listed once per read (only when a needed contact's id is not cached) and matched by
  primary email, then phone: the list's documented filters (`q`, `lifecycle`, `owner`) cannot
  look a contact up by email, so per-contact lookups would cost more than the list.
- Enrollments are listed per sequence (no contact filter is documented) and grouped by contact;
  the latest wins and `attempt` counts the earlier ones. Statuses: active/waiting -> active,
  paused -> paused (reason `paused_reason`), completed/cancelled -> finished, failed -> failed;
  an unknown word -> active with a warning, because active is never re-enrolled.
- The enrollment POST dedupes only ACTIVE enrollments, so it is treated as non-idempotent: a lost
  answer is OutcomeUnknown, and no POST is sent for a contact with an enrollment in any status
  (or with an unresolved lost POST) unless it is a deliberate next attempt after a finished or
  failed one. Before each POST the sequence's enrollment list is re-read when the copy is older
  than 60 s (scaled with its size, to stay within ~10% of the 60 req/min budget); within that
  window the plan's freshly checked precondition is trusted.
- The ownership tag lives in the deal's documented `tags` field. Gary documents no deal archive
  or delete, so both capabilities are off and those calls raise a clear `unsupported` error;
  deals never read back as archived. `description: ""` clears with null on the wire.
- A sequence that is not `active` (draft, paused, archived) is a plan warning, and enrollments
  into it are refused before any request is sent.
"""

from reconciler.providers.garyclub.provider import GaryClubProvider

__all__ = ["GaryClubProvider"]
