"""The load: rate-controlled producer agents and latency-measuring consumer agents.

Agents are separate processes speaking JSON lines on stdin/stdout (see `protocol`), so the
same agent runs as a local child, over SSH or inside a container.
"""
