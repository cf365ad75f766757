"""The Gary Club adapter: sequences (enrollments) and CRM deals (cards); see provider.py."""

from reconciler.providers.garyclub.provider import GaryClubProvider

__all__ = ["GaryClubProvider"]
