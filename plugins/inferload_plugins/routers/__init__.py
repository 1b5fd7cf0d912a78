"""The live HTTP API's route families, one ``api_router`` plugin per module (see docs/api.md).

Every module here registers exactly one :class:`~inferload.types.RouterSpec` whose factory builds a FastAPI
router over the run's read-only :class:`~inferload.runstate.RunState`; FastAPI and prometheus-client are
imported inside the factories so that listing plugins stays cheap.

Handlers are ``async def``: each only reads the state (no blocking I/O beyond a stat or a small file
stream), so they run on the API thread's own event loop instead of FastAPI's thread pool, which would add
threads competing with the engine for the interpreter.
"""
