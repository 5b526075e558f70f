"""Feeds followed: the SSRF-guarded fetcher, the feed parser and the poller."""
