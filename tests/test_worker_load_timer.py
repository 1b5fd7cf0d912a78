"""A worker's load change whose timer runs before the change's instant (uvloop timers count in whole ms
and often run a fraction of a ms before ``perf_counter_ns`` gets there) is still put in force: a paused
worker makes no send decision that would apply a resume, so the timer is all there is."""

from __future__ import annotations

import asyncio
import multiprocessing
from time import perf_counter_ns

import uvloop

from inferload.engine.messages import LoadCommand, WorkerInit
from inferload.engine.worker import Worker


def _worker(loop: asyncio.AbstractEventLoop) -> Worker:
    init = WorkerInit(
        worker_id="w0", url="http://127.0.0.1:9", headers={}, transport_factory=lambda **_: None,
        endpoint_factory=lambda: None, streaming=True, payloads=[b"{}"], conversation_ids=["c0"],
        input_tokens=[1], output_tokens=[1], request_timeout=5.0, max_connections=1,
        counter=multiprocessing.Value("q", 0),
    )
    return Worker(None, init, loop)


def test_a_resume_whose_timer_runs_early_is_applied_a_moment_later() -> None:
    loop = uvloop.new_event_loop()
    try:
        worker = _worker(loop)
        worker._set_paused(True)
        resume = LoadCommand(perf_counter_ns() + 20_000_000, paused=False)
        worker._queue_load(resume)
        for handle in worker.timers:  # as if its timer had already run: the early call below is the only one
            handle.cancel()
        worker._load_due(resume)  # the timer running 20 ms early: nothing is due yet
        assert not worker.unpaused.is_set() and worker.load_queue == [resume]
        loop.run_until_complete(asyncio.wait_for(worker.unpaused.wait(), 2.0))
        assert worker.load_queue == [] and perf_counter_ns() >= resume.at_ns
    finally:
        loop.close()
