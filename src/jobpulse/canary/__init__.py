"""Canary analysis: judge a rollout phase's canary against its baseline from Prometheus (``jobpulse canary``)."""
