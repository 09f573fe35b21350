"""What a run produces: result types, metrics, privacy audits, files, summaries."""
