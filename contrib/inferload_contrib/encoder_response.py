"""The base of a simulated answer on an encoder route (``SimulatorRouteSpec(generates=False)``: TEI's
``/embed``, the rerank routes): a whole JSON body, no stream events. Subclasses give ``body()`` and
``malformed()`` (the ``malformed_chunk`` fault's cut-off JSON)."""

from __future__ import annotations


class EncoderResponse:
    """A :class:`~inferload.simulated.SimulatedResponse` without events: only ``body()`` is ever sent."""

    def opening(self) -> bytes:
        return b""

    def tokens(self, start: int, end: int) -> bytes:
        return b""

    def closing(self) -> bytes:
        return b""

    def malformed(self) -> bytes:
        raise NotImplementedError

    def body(self) -> bytes:
        raise NotImplementedError
