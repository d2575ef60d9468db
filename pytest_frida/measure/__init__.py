"""Measurement: latency histograms, delivery accounting and SLO verdicts.

Nothing here knows where a step ran; it only sees numbers.
"""
