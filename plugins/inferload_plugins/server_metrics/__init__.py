"""Server-side metrics: the scraper (a lifecycle plugin) and one metric map plugin per server family."""
