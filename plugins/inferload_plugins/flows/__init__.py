"""Request-flow plugins: what a worker sends next and how, beyond one prepared prompt per request
(``register_request_flows``, :mod:`inferload.engine.flow`). One module per flow; a flow's own helpers
beside it (``session_plan.py``)."""
