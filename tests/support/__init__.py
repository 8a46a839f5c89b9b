"""Helpers shared by the test suite (not tests themselves)."""

from tests.support.pg_cluster import ThrowawayPostgres

__all__ = ["ThrowawayPostgres"]
