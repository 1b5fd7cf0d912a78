"""`inferload plugins` — every installed plugin, what it provides and whether it loaded."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.types import CommandSpec

if TYPE_CHECKING:
    from inferload.registry import PluginRegistry


@hookimpl
def register_commands() -> list[CommandSpec]:
    return [
        CommandSpec(
            name="plugins",
            description="List installed plugins: category, what they provide, distribution, status",
            add_arguments=_add_arguments,
            run=_run,
        )
    ]


def _add_arguments(parser: Any) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _run(args: Any, registry: PluginRegistry) -> int:
    rows = [info.as_dict() for info in registry.plugins.values()]
    rows.sort(key=lambda row: (row["status"] != "enabled", row["category"], row["name"]))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    _print_table(rows)
    return 0


def _print_table(rows: list[dict[str, Any]]) -> None:
    """A plain fixed-width table: cheap to import, readable in a pipe, greppable."""
    headers = ("NAME", "CATEGORY", "PROVIDES", "DISTRIBUTION", "STATUS")
    lines = []
    for row in rows:
        status = row["status"] if not row["reason"] or row["status"] == "disabled" else \
            f"{row['status']}: {row['reason']}"
        lines.append((
            row["name"],
            row["category"] or "-",
            ", ".join(row["provides"]) or "-",
            f"{row['distribution']} {row['version']}".strip(),
            status,
        ))
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(headers)]
    widths[2] = min(widths[2], 60)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    print(fmt.format(*headers))
    for line in lines:
        provides = line[2] if len(line[2]) <= widths[2] else line[2][: widths[2] - 1] + "…"
        print(fmt.format(line[0], line[1], provides, line[3], line[4]))
    enabled = sum(1 for row in rows if row["status"] == "enabled")
    print(f"\n{len(rows)} plugins: {enabled} enabled, "
          f"{sum(1 for r in rows if r['status'] == 'disabled')} disabled, "
          f"{sum(1 for r in rows if r['status'] == 'failed')} failed")
