"""pyvs processes that run in the background (the I/O shell around the pure packages)."""
