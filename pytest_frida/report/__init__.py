"""What a run leaves behind and what it is compared with: the terminal summary,
report.json, steps.csv, report.html and its plots, the history, comparisons and their
noise-aware gates, capacity limits, the InfluxDB export, and pandas loading."""
