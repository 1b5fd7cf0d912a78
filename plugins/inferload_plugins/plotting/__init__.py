"""Charts (charts.py) and the self-contained report page (report.py) of `inferload plot` and --report."""
