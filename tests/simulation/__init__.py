"""The simulated Grid'5000 site: a package, imported as `simulation` (tests/ is on pytest's
`pythonpath`), so its modules have names of their own for pytest and mypy alike."""
