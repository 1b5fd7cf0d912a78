"""The performance model: output lengths, and a continuous-batching scheduler that paces tokens.

The scheduler imitates one inference engine step by step (see docs/simulator.md for the equations):

* Requests wait in a FIFO queue until fewer than ``max_running_seqs`` sequences run.
* A step has a token budget of ``max_batched_tokens``: one token per decoding sequence, the rest goes to
  (chunked) prefill of admitted sequences in admission order.
* A step lasts ``decode_step_s + decode_step_per_seq_s * running + prefill_tokens / prefill_tokens_per_s``.
* At the end of a step, a sequence whose prefill completed gets its first token; every sequence that was
  already decoding gets ``tokens_per_chunk`` more (speculative decoding when > 1).

One asyncio task runs the steps and wakes each waiting consumer, so the cost per step is O(running) and
nothing polls: an idle engine awaits a future until a request arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from statistics import NormalDist
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import SimulatorConfig

_STANDARD_NORMAL = NormalDist()


def output_length(
    uniform: float,
    *,
    max_tokens: int | None,
    ignore_eos: bool,
    limit: int,
    mean: int,
    sigma: float,
    reasoning: int = 0,
) -> tuple[int, str]:
    """How many tokens a request generates, and its ``finish_reason``.

    With ``ignore_eos`` the output runs to ``max_tokens`` (or to the context ``limit``). Otherwise the
    natural length is ``reasoning`` plus a log-normal draw with the given mean (``sigma`` 0: exactly the
    mean), cut at ``max_tokens`` and ``limit``. A cut is ``"length"``, a natural end ``"stop"``.
    ``uniform`` in (0, 1) is the request's random draw (inverse-CDF sampling keeps it one number).
    """
    cap = min(max_tokens, limit) if max_tokens is not None else limit
    if ignore_eos:
        return cap, "length"
    if sigma > 0:
        mu = math.log(mean) - sigma * sigma / 2.0
        natural = max(1, round(math.exp(mu + sigma * _STANDARD_NORMAL.inv_cdf(uniform))))
    else:
        natural = mean
    natural += reasoning
    if natural >= cap:
        return cap, "length"
    return natural, "stop"


def step_seconds(config: SimulatorConfig, running: int, prefill_tokens: int) -> float:
    """Duration of one engine step with ``running`` sequences and ``prefill_tokens`` prompt tokens."""
    return (
        config.decode_step_s
        + config.decode_step_per_seq_s * running
        + prefill_tokens / config.prefill_tokens_per_s
    )


class Sequence:
    """One request inside the engine: how much prefill and output is left, and who waits for it.

    Timestamps are ``time.time_ns()``: ``scheduled_ns`` when admitted from the queue, ``first_token_ns``
    at the end of the step that finished its prefill, ``finished_ns`` at the end of its last step.
    """

    __slots__ = (
        "_waiter", "aborted", "chunk", "done", "finished_ns", "first_token_ns", "output_tokens", "pending",
        "prefill_left", "prompt_tokens", "remaining", "scheduled_ns", "stream",
    )

    def __init__(
        self, prompt_tokens: int, output_tokens: int, *, stream: bool, tokens_per_chunk: int,
        cached_tokens: int = 0,
    ) -> None:
        self.prompt_tokens = max(1, prompt_tokens)
        # tokens found in the prefix cache are not computed again; at least one always is
        self.prefill_left = max(1, self.prompt_tokens - cached_tokens)
        self.remaining = self.output_tokens = output_tokens
        self.stream = stream
        self.chunk = tokens_per_chunk
        self.pending = 0
        self.done = output_tokens <= 0
        self.aborted = False
        self.scheduled_ns = 0
        self.first_token_ns = 0
        self.finished_ns = 0
        self._waiter: asyncio.Future[None] | None = None

    @property
    def kv_tokens(self) -> int:
        """Tokens this sequence holds in the KV cache: its prefilled prompt plus its output so far."""
        return self.prompt_tokens - self.prefill_left + self.output_tokens - max(0, self.remaining)

    def _deliver(self, tokens: int, now_ns: int) -> None:
        if not self.first_token_ns:
            self.first_token_ns = now_ns
        self.pending += tokens
        self.remaining -= tokens
        if self.remaining <= 0:
            self.done = True
            self.finished_ns = now_ns
        if (self.stream or self.done) and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def next_chunk(self) -> int:
        """Tokens of the next chunk (at most ``tokens_per_chunk``), or 0 once the output is complete.

        Tokens that piled up while the consumer was busy come out as several chunks, as from a server's
        output queue.
        """
        while not self.pending:
            if self.done:
                return 0
            await self._wait()
        tokens = min(self.pending, self.chunk)
        self.pending -= tokens
        return tokens

    async def wait_done(self) -> None:
        """Wait until the last token is generated (non-streaming responses)."""
        while not self.done:
            await self._wait()


class Engine:
    """The continuous-batching scheduler. Create and :meth:`start` it inside the serving event loop."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self._wake: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    def kv_cache_usage(self) -> float:
        """KV-cache use as vLLM's ``kv_cache_usage_perc`` reports it (0-1): tokens the running sequences
        hold over the cache's capacity, taken as ``max_running_seqs`` full contexts (``max_model_len``)."""
        capacity = self.config.max_running_seqs * self.config.max_model_len
        return min(1.0, sum(seq.kv_tokens for seq in self.running) / capacity)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="simulator-engine")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def submit(self, seq: Sequence) -> None:
        """Queue a sequence; the engine admits it when a slot is free."""
        if seq.done:
            return
        self.waiting.append(seq)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def abort(self, seq: Sequence) -> None:
        """Forget a sequence whose client went away (a running one leaves at the next step)."""
        if seq.done or seq.aborted:
            return
        seq.aborted = True
        if not seq.scheduled_ns:
            with contextlib.suppress(ValueError):
                self.waiting.remove(seq)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        config = self.config
        deadline = loop.time()
        while True:
            self.running = [s for s in self.running if not s.aborted]
            if not self.running and not self.waiting:
                self._wake = loop.create_future()
                await self._wake
                self._wake = None
                deadline = loop.time()
            now_ns = time.time_ns()
            while self.waiting and len(self.running) < config.max_running_seqs:
                seq = self.waiting.popleft()
                seq.scheduled_ns = now_ns
                self.running.append(seq)
            if not self.running:
                continue
            decoding = [s for s in self.running if not s.prefill_left]
            budget = config.max_batched_tokens - len(decoding)
            prefill_tokens = 0
            prefilled: list[Sequence] = []
            for seq in self.running:
                if budget <= 0:
                    break
                if seq.prefill_left:
                    take = min(seq.prefill_left, budget)
                    seq.prefill_left -= take
                    budget -= take
                    prefill_tokens += take
                    if not seq.prefill_left:
                        prefilled.append(seq)
            # Steps follow each other back to back; only after an idle spell or a stall of the event
            # loop longer than a step does the clock restart, so small timer lateness does not add up.
            duration = step_seconds(config, len(self.running), prefill_tokens)
            now = loop.time()
            start = deadline if now - deadline < duration else now
            deadline = start + duration
            await asyncio.sleep(deadline - now)
            now_ns = time.time_ns()
            for seq in decoding:
                if not seq.aborted:
                    seq._deliver(min(config.tokens_per_chunk, seq.remaining), now_ns)
            for seq in prefilled:
                if not seq.aborted:
                    seq._deliver(1, now_ns)
            self.running = [s for s in self.running if not s.done]
