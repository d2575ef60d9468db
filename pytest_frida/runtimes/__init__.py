"""HOW services run on nodes: local processes now; SSH processes and containers later."""
