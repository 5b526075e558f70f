"""Moved to harness/procs.py (tests and benchmarks share it); kept while in-flight code moves."""

from harness.procs import *  # noqa: F403
from harness.procs import RedisServer, Service, free_port, service_env, wait_for, wait_healthy

__all__ = ["RedisServer", "Service", "free_port", "service_env", "wait_for", "wait_healthy"]
