"""Relay: a fourth vendor that exists only for tests.

It proves the vendor boundary: everything it needs lives in this package (its VendorSpec, a small
adapter and a small in-process simulator), and the core learns about it through one call,
`reconciler.providers.vendors.register(SPEC)`.

Relay sends one-off deliveries: a campaign (by name) takes a delivery to one email address. Its
errors come as `{"fault": {"kind", "text"}}`; a delivery is `queued` until it goes out.
"""
