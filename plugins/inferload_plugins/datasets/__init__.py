"""Dataset plugins: the prompts a run sends (``--dataset``)."""
