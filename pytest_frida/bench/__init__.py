"""The harness benchmark: our load generator measured against Kafka's own tools.

Run with `frida bench`; see `runner` for what is measured and how.
"""
