"""HOW things run once a site has its nodes: child processes, agents, docker (local or
over ssh), the Kafka container and stacks, swarms, ssh, clock synchronisation, and the
monitors that read the brokers' counters. Nothing here knows which site asked."""
