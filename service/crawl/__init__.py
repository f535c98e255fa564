"""Crawl input: WARC archives and page URLs turned into batch-job items with their own context."""
