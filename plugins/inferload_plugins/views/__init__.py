"""Progress views of a running benchmark (``view`` plugins, ``--ui NAME``): each module registers one
:class:`~inferload.types.ViewSpec`; what they print is shared in :mod:`.progress_text`. They only read the
run's :class:`~inferload.runstate.RunState`."""
