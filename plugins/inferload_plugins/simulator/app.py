"""The simulator application: routes, and how each inference request is paced, faulted and recorded.

:meth:`SimulatorApp.handle` answers a request synchronously when it can (routes without latency, and
everything in ``--fast`` mode without a fault), which keeps the capacity path free of task switches; it
returns a coroutine when the answer has to wait for the engine, a stall or a fault.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from . import wire
from .api import ApiError, Embeddings, Generation, models_body, parse_body
from .dialects import DialectEncoding, DialectGeneration, plugin_routes
from .faults import HTTP_STATUS_FAULTS, MID_BODY_FAULTS, Fault, FaultPicker, FaultSyntaxError
from .metrics import ServerMetrics
from .model import Engine, Sequence
from .prefix_cache import PrefixCache
from .text import TokenTape, count_tokens, encode_tokens
from .truthlog import Trace, TruthLog

if TYPE_CHECKING:
    from inferload.types import SimulatorRouteSpec

    from .config import SimulatorConfig

Handler = Coroutine[Any, Any, None]
AnyGeneration = Generation | DialectGeneration
AnyEncoding = Embeddings | DialectEncoding
ErrorBody = Callable[[int, str], bytes]


class Request(Protocol):
    """What the HTTP layer hands the application."""

    method: bytes
    path: str
    body: bytes
    fault: bytes | None
    request_id: str | None
    keep_alive: bool
    http11: bool
    session_id: str | None


class Connection(Protocol):
    """What the application may do with the client's connection."""

    closed: bool
    paused: bool

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    async def drain(self) -> None: ...


def _identity(data: bytes) -> bytes:
    return data


class SimulatorApp:
    """Serves the OpenAI routes, /health, /v1/models and /metrics for one simulator process."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.engine = None if config.fast else Engine(config)
        self.faults = FaultPicker(config.fault_rate, config.seed)
        self.metrics = ServerMetrics(config.served_model_name, self._gauges)
        self.tape = TokenTape(config.seed)
        self.prefix_cache: PrefixCache | None = None
        if config.kv_cache_blocks:
            self.prefix_cache = PrefixCache(config.kv_cache_blocks, config.kv_cache_block_size)
        count_tokens("")  # loads the counting tokenizer now, so the first request's TTFT does not pay for it
        self.truth: TruthLog | None = None
        self.in_flight = 0
        self.encoding = 0
        """Encoder requests (embeddings, rerank) in their prefill pass: running, outside the engine's
        batch."""
        self.stopping = False
        self._routes: dict[str, dict[bytes, Callable[[Request, Connection], Handler | None]]] = {
            "/v1/chat/completions": {b"POST": self._chat},
            "/v1/completions": {b"POST": self._completion},
            "/v1/embeddings": {b"POST": self._embeddings},
            "/v1/models": {b"GET": self._models},
            "/health": {b"GET": self._health},
            "/reset_prefix_cache": {b"POST": self._reset_prefix_cache},
            "/metrics": {b"GET": self._metrics},
        }
        for path, spec in plugin_routes().items():
            if path not in self._routes:  # the OpenAI routes are the simulator's own
                handler = self._dialect_handler(spec) if spec.generates else self._encoder_handler(spec)
                self._routes[path] = {spec.method.encode(): handler}
            if spec.models_path and spec.models_body and spec.models_path not in self._routes:
                self._routes[spec.models_path] = {b"GET": self._dialect_models(spec.models_body)}

    async def start(self) -> None:
        if self.config.truth_log is not None:
            self.truth = TruthLog(self.config.truth_log)
        if self.engine is not None:
            self.engine.start()

    async def stop(self) -> None:
        self.stopping = True
        if self.engine is not None:
            await self.engine.stop()
        if self.truth is not None:
            self.truth.close()
            self.truth = None

    def _gauges(self) -> tuple[int, int, float]:
        if self.engine is None:
            return self.in_flight + self.encoding, 0, 0.0
        return (len(self.engine.running) + self.encoding, len(self.engine.waiting),
                self.engine.kv_cache_usage())

    # -- routing -----------------------------------------------------------------------------------

    def handle(self, req: Request, conn: Connection) -> Handler | None:
        """Answer ``req`` now (returns None) or return the coroutine that will."""
        methods = self._routes.get(req.path)
        if methods is None:
            conn.write(wire.error_response(404, f"no route {req.path!r}; the simulator serves "
                                           + ", ".join(self._routes), keep_alive=req.keep_alive,
                                           code="unknown_url"))
            return None
        handler = methods.get(req.method)
        if handler is None:
            allowed = ", ".join(m.decode() for m in methods)
            message = f"{req.method.decode()} is not allowed on {req.path}; use {allowed}"
            conn.write(wire.error_response(405, message, keep_alive=req.keep_alive,
                                           headers=[("allow", allowed)]))
            return None
        return handler(req, conn)

    def _health(self, req: Request, conn: Connection) -> None:
        conn.write(wire.response(200, b'{"status":"ok"}', keep_alive=req.keep_alive))

    def _reset_prefix_cache(self, req: Request, conn: Connection) -> None:
        """vLLM's ``POST /reset_prefix_cache`` (what ``--reset-kv-cache`` calls): forget all cached blocks."""
        if self.prefix_cache is not None:
            self.prefix_cache = PrefixCache(self.config.kv_cache_blocks, self.config.kv_cache_block_size)
        conn.write(wire.response(200, b"", keep_alive=req.keep_alive))

    def _models(self, req: Request, conn: Connection) -> None:
        conn.write(wire.response(200, models_body(self.config), keep_alive=req.keep_alive))

    def _dialect_models(self, render: Callable[[str], bytes]) -> Callable[[Request, Connection], None]:
        """A dialect's model-list route (TGI's ``/info``, Ollama's ``/api/tags``): the served model."""

        def handle(req: Request, conn: Connection) -> None:
            conn.write(wire.response(200, render(self.config.served_model_name), keep_alive=req.keep_alive))

        return handle

    def _metrics(self, req: Request, conn: Connection) -> None:
        body, content_type = self.metrics.render()
        conn.write(wire.response(200, body, keep_alive=req.keep_alive, content_type=content_type.encode()))

    # -- inference routes --------------------------------------------------------------------------

    def _chat(self, req: Request, conn: Connection) -> Handler | None:
        return self._generation(req, conn, lambda data: Generation(data, self.config, self.tape, chat=True))

    def _completion(self, req: Request, conn: Connection) -> Handler | None:
        return self._generation(req, conn, lambda data: Generation(data, self.config, self.tape, chat=False))

    def _dialect_handler(self, spec: SimulatorRouteSpec) -> Callable[[Request, Connection], Handler | None]:
        error_body = spec.error_body
        content_type = spec.stream_content_type.encode()

        def handle(req: Request, conn: Connection) -> Handler | None:
            return self._generation(
                req, conn, lambda data: DialectGeneration(spec, data, self.config, self.tape),
                error_body=error_body, content_type=content_type,
            )

        return handle

    def _encoder_handler(self, spec: SimulatorRouteSpec) -> Callable[[Request, Connection], Handler | None]:
        def handle(req: Request, conn: Connection) -> Handler | None:
            return self._encoding(req, conn, lambda data: DialectEncoding(spec, data, self.config),
                                  spec.error_body)

        return handle

    def _accept(self, req: Request, conn: Connection, trace: Trace, parse: Callable[[dict[str, Any]], Any],
                error_body: ErrorBody | None = None) -> tuple[Any, Fault | None] | None:
        """Parse the body and pick the fault; on a bad request answer 4xx and return None."""
        try:
            parsed = parse(parse_body(req.body))
            fault = self.faults.pick(req.fault)
        except ApiError as exc:
            self._refuse(req, conn, trace, exc.status, exc.message, param=exc.param, code=exc.code,
                         error_body=error_body)
            return None
        except FaultSyntaxError as exc:
            self._refuse(req, conn, trace, 400, f"bad X-Inferload-Fault header: {exc}", error_body=error_body)
            return None
        if fault is not None:
            trace.fault = str(fault)
            self.metrics.fault_injected(fault.kind)
        return parsed, fault

    def _refuse(self, req: Request, conn: Connection, trace: Trace, status: int, message: str, *,
                param: str | None = None, code: str | None = None,
                headers: tuple[tuple[str, str], ...] = (), error_body: ErrorBody | None = None) -> None:
        if error_body is None:
            conn.write(wire.error_response(status, message, keep_alive=req.keep_alive, param=param,
                                           code=code, headers=headers))
        else:
            conn.write(wire.response(status, error_body(status, message), keep_alive=req.keep_alive,
                                     headers=headers))
        trace.status = status
        trace.outcome = "error"
        trace.headers_ns = trace.last_chunk_ns = time.time_ns()
        self._record(trace)

    def _generation(self, req: Request, conn: Connection, parse: Callable[[dict[str, Any]], AnyGeneration],
                    *, error_body: ErrorBody | None = None, content_type: bytes = wire.SSE) -> Handler | None:
        trace = Trace(req.path, time.time_ns(), req.request_id, req.session_id)
        accepted = self._accept(req, conn, trace, parse, error_body)
        if accepted is None:
            return None
        gen, fault = accepted
        if self.prefix_cache is not None and isinstance(gen, Generation):
            ids = [token for part in gen.prompt_parts for token in encode_tokens(part)]
            gen.cached_tokens = trace.cached_tokens = self.prefix_cache.admit(ids)
            self.metrics.prefix_cache_looked_up(len(ids), gen.cached_tokens)
        trace.id, trace.model, trace.stream = gen.id, gen.model, gen.stream
        trace.prompt_tokens, trace.reasoning_tokens = gen.prompt_tokens, gen.reasoning_tokens
        if fault is None and self.engine is None:
            self._generate_now(gen, req, conn, trace, content_type)
            return None
        return self._generate(gen, req, conn, trace, fault, error_body, content_type)

    def _generate_now(self, gen: AnyGeneration, req: Request, conn: Connection, trace: Trace,
                      content_type: bytes) -> None:
        """``--fast`` without a fault: the whole response in one write."""
        now = time.time_ns()
        trace.scheduled_ns = trace.first_token_ns = trace.finished_ns = now
        total = gen.output_tokens
        if gen.stream:
            frame = wire.chunk if req.http11 else _identity
            step = self.config.tokens_per_chunk
            parts = [wire.sse_head(keep_alive=req.keep_alive, chunked=req.http11, content_type=content_type),
                     frame(gen.role_event() + gen.token_events(0, min(step, total)))]
            parts.extend(frame(gen.token_events(i, min(i + step, total))) for i in range(step, total, step))
            parts.append(frame(gen.final_events()))
            if req.http11:
                parts.append(wire.LAST_CHUNK)
            chunks = len(parts) - (3 if req.http11 else 2)
            conn.write(b"".join(parts))
        else:
            chunks = 1
            conn.write(wire.response(200, gen.body(), keep_alive=req.keep_alive))
        written = time.time_ns()
        trace.headers_ns = trace.last_chunk_ns = written
        trace.chunk_ns = [written] * chunks
        self._finished(gen, trace, total)

    async def _generate(self, gen: AnyGeneration, req: Request, conn: Connection, trace: Trace,
                        fault: Fault | None, error_body: ErrorBody | None, content_type: bytes) -> None:
        seq: Sequence | None = None
        self.in_flight += 1
        try:
            if await self._before_body(req, conn, trace, fault, error_body):
                return
            if self.engine is not None:
                seq = Sequence(gen.prompt_tokens, gen.output_tokens, stream=gen.stream,
                               tokens_per_chunk=self.config.tokens_per_chunk,
                               cached_tokens=getattr(gen, "cached_tokens", None) or 0)
                self.engine.submit(seq)
            else:
                trace.scheduled_ns = trace.first_token_ns = trace.finished_ns = time.time_ns()
            if gen.stream:
                await self._stream(gen, req, conn, trace, seq, fault, content_type)
            else:
                if seq is not None:
                    await seq.wait_done()
                await self._send_whole(req, conn, trace, gen.body(), fault)
                if trace.outcome == "ok":
                    trace.completion_tokens = gen.output_tokens
            if seq is not None:
                trace.scheduled_ns, trace.first_token_ns, trace.finished_ns = (
                    seq.scheduled_ns, seq.first_token_ns, seq.finished_ns)
            if trace.outcome == "ok":
                self._finished(gen, trace, gen.output_tokens, record=False)
        except asyncio.CancelledError:
            trace.outcome = "shutdown" if self.stopping else "client_closed"
            raise
        finally:
            self.in_flight -= 1
            if seq is not None and not seq.done and self.engine is not None:
                self.engine.abort(seq)
            if seq is not None and trace.outcome != "ok":
                trace.scheduled_ns, trace.first_token_ns = seq.scheduled_ns, seq.first_token_ns
            if trace.status == 200:
                self._record(trace)

    async def _stream(self, gen: AnyGeneration, req: Request, conn: Connection, trace: Trace,
                      seq: Sequence | None, fault: Fault | None, content_type: bytes) -> None:
        frame = wire.chunk if req.http11 else _identity
        conn.write(wire.sse_head(keep_alive=req.keep_alive, chunked=req.http11, content_type=content_type))
        trace.headers_ns = time.time_ns()
        total = gen.output_tokens
        kind = fault.kind if fault is not None else None
        half = total // 2 if kind in MID_BODY_FAULTS else -1
        step = self.config.tokens_per_chunk
        sent = 0
        while True:
            tokens = await seq.next_chunk() if seq is not None else min(step, total - sent)
            if not tokens:
                break
            if sent >= half >= 0:
                half = -1
                if kind == "malformed_chunk":
                    conn.write(frame(gen.malformed_event()))
                elif await self._strike(conn, trace, fault):
                    return
            data = gen.token_events(sent, sent + tokens)
            data = frame(gen.role_event() + data if not sent else data)
            trace.chunk_write_ns.append(time.time_ns())
            conn.write(data)
            trace.chunk_ns.append(time.time_ns())
            sent += tokens
            trace.completion_tokens = sent
            if conn.paused:
                await conn.drain()
        conn.write(frame(gen.final_events()) + (wire.LAST_CHUNK if req.http11 else b""))
        trace.last_chunk_ns = time.time_ns()

    async def _before_body(self, req: Request, conn: Connection, trace: Trace, fault: Fault | None,
                           error_body: ErrorBody | None = None) -> bool:
        """Faults that strike before any byte: an error status (True: answered) or a first-byte stall."""
        if fault is None:
            return False
        status = HTTP_STATUS_FAULTS.get(fault.kind)
        if status is not None:
            headers = (("retry-after", f"{fault.seconds:g}"),) if status == 429 else ()
            message = {
                500: "simulated internal server error (fault injection)",
                503: "simulated overload: service unavailable (fault injection)",
                429: "simulated rate limit: too many requests (fault injection)",
            }[status]
            self._refuse(req, conn, trace, status, message, headers=headers, error_body=error_body)
            return True
        if fault.kind == "stall_first_byte":
            await asyncio.sleep(fault.seconds)
        return False

    async def _strike(self, conn: Connection, trace: Trace, fault: Fault | None) -> bool:
        """Inflict a mid-body fault; True if the response ends here."""
        kind = fault.kind if fault is not None else None
        if fault is not None and kind == "stall_mid":
            await asyncio.sleep(fault.seconds)
            return False
        if kind == "drop_mid":
            conn.close()
            trace.outcome = "dropped"
            return True
        if kind == "never_end":
            await asyncio.get_running_loop().create_future()  # until the client leaves or we shut down
        return False

    async def _send_whole(self, req: Request, conn: Connection, trace: Trace, body: bytes,
                          fault: Fault | None) -> None:
        """A Content-Length response; mid-body faults strike after the head and half the body."""
        kind = fault.kind if fault is not None else None
        if kind == "malformed_chunk":
            body = body[: len(body) // 2]
        data = wire.response(200, body, keep_alive=req.keep_alive)
        if kind in MID_BODY_FAULTS and kind != "malformed_chunk":
            cut = len(data) - len(body) + len(body) // 2
            conn.write(data[:cut])
            trace.headers_ns = time.time_ns()
            if await self._strike(conn, trace, fault):
                return
            data = data[cut:]
        conn.write(data)
        trace.last_chunk_ns = time.time_ns()
        trace.headers_ns = trace.headers_ns or trace.last_chunk_ns
        trace.chunk_ns.append(trace.last_chunk_ns)

    def _embeddings(self, req: Request, conn: Connection) -> Handler | None:
        return self._encoding(req, conn, lambda data: Embeddings(data, self.config))

    def _encoding(self, req: Request, conn: Connection, parse: Callable[[dict[str, Any]], AnyEncoding],
                  error_body: ErrorBody | None = None) -> Handler | None:
        """An encoder request (embeddings, rerank): one prefill pass of its tokens, one whole body."""
        trace = Trace(req.path, time.time_ns(), req.request_id)
        accepted = self._accept(req, conn, trace, parse, error_body)
        if accepted is None:
            return None
        emb, fault = accepted
        trace.model, trace.prompt_tokens = emb.model, emb.prompt_tokens
        trace.id = f"embd-{trace.received_ns:x}"
        if fault is None and self.engine is None:
            body = emb.body(self.config.seed)
            trace.scheduled_ns = trace.finished_ns = time.time_ns()  # --fast: an encoding costs nothing
            conn.write(wire.response(200, body, keep_alive=req.keep_alive))
            trace.headers_ns = trace.last_chunk_ns = time.time_ns()
            trace.chunk_ns.append(trace.last_chunk_ns)
            self._encoded(emb, trace)
            self._record(trace)
            return None
        return self._embed(emb, req, conn, trace, fault, error_body)

    async def _embed(self, emb: AnyEncoding, req: Request, conn: Connection, trace: Trace,
                     fault: Fault | None, error_body: ErrorBody | None) -> None:
        """Encoder requests cost one prefill pass of their tokens; they do not share the generation batch.
        The truth log's ``scheduled_ns`` and ``finished_ns`` are that pass's start and end (no token: no
        ``first_token_ns``)."""
        try:
            if await self._before_body(req, conn, trace, fault, error_body):
                return
            trace.scheduled_ns = time.time_ns()
            self.encoding += 1
            try:
                if not self.config.fast:
                    await asyncio.sleep(emb.prompt_tokens / self.config.prefill_tokens_per_s)
            finally:
                self.encoding -= 1
            body = emb.body(self.config.seed)
            trace.finished_ns = time.time_ns()
            await self._send_whole(req, conn, trace, body, fault)
            if trace.outcome == "ok":
                self._encoded(emb, trace)
        except asyncio.CancelledError:
            trace.outcome = "shutdown" if self.stopping else "client_closed"
            raise
        finally:
            if trace.status == 200:
                self._record(trace)

    # -- accounting --------------------------------------------------------------------------------

    def _finished(self, gen: AnyGeneration, trace: Trace, tokens: int, *, record: bool = True) -> None:
        trace.completion_tokens = tokens
        trace.finish_reason = gen.finish_reason
        self.metrics.request_finished(
            prompt_tokens=gen.prompt_tokens, completion_tokens=tokens, finish_reason=gen.finish_reason,
            received_ns=trace.received_ns, scheduled_ns=trace.scheduled_ns,
            first_token_ns=trace.first_token_ns, finished_ns=trace.finished_ns,
        )
        if record:
            self._record(trace)

    def _encoded(self, emb: AnyEncoding, trace: Trace) -> None:
        self.metrics.request_encoded(prompt_tokens=emb.prompt_tokens, received_ns=trace.received_ns,
                                     scheduled_ns=trace.scheduled_ns, finished_ns=trace.finished_ns)

    def _record(self, trace: Trace) -> None:
        if self.truth is not None:
            self.truth.write(trace)
