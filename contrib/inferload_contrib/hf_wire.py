"""Wire pieces Hugging Face's servers (TEI, TGI) share, for the contrib adapters' simulator routes: the
``{"error", "error_type"}`` error body and the ``GET /info`` model description."""

from __future__ import annotations

import json

INFO_PATH = "/info"
"""Where TEI and TGI describe the one model they serve (``model_id``)."""


def tei_error_body(status: int, message: str) -> bytes:
    """TEI's error shape: ``{"error", "error_type"}``."""
    kind = {413: "Validation", 422: "Validation", 429: "Overloaded", 503: "Overloaded"}.get(status, "Backend")
    return json.dumps({"error": message, "error_type": kind}).encode()


def info_body(model: str) -> bytes:
    """``GET /info``: the one model the server serves, as ``model_id`` (TEI and TGI)."""
    return json.dumps({"model_id": model, "model_dtype": "float16"}).encode()
