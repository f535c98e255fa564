"""What every capability shares: settings, errors, database tables, fetching, logs, metrics,
thumbnails and the shared parts of the wire schemas."""
