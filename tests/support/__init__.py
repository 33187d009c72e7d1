"""Helpers shared by the liftoff.release test suites (real services, started and stopped by pid)."""
