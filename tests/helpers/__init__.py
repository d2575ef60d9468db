"""What several test folders share: leak probes (processes, data directories), cgroup CPU
quotas for agents, the image builds the docker and simulation tests need, what the kernel
can do, and the one reader of a run's report.json. Imported as `helpers.<module>`
(pytest's `pythonpath` holds tests/)."""
