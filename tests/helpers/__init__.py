"""What several test folders share: leak probes (processes, data directories), cgroup CPU
quotas for agents, the image builds the docker and simulation tests need, and what the
kernel can do. Imported as `helpers.<module>` (pytest's `pythonpath` holds tests/)."""
