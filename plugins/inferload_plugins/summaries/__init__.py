"""Summary-section plugins: blocks of profile_export.json computed after the last record, beside the
whole-run metrics (``register_summary_sections``). One module per block."""
