"""The live HTTP API's host (``api_host`` plugins): the server that serves every ``api_router`` plugin's
routes for the run's :class:`~inferload.runstate.RunState` (see docs/api.md). FastAPI and uvicorn are
imported when a host is built, never when the plugin registers."""
