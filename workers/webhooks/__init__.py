"""Webhook deliveries: story events fanned out to subscribers, signed, retried, ordered per story."""
