"""Shared DRF plumbing: authentication, errors, pagination, request IDs, and the API keys themselves."""
