"""Run reports: terminal summary, report.json and steps.csv (later HTML and history)."""
