"""Plain-text tables of metric rows (for the CLI and the benchmark)."""
from __future__ import annotations

from typing import Sequence


def summary_columns(k: int = 15, temporal_k: int = 3) -> list[str]:
    return ["epoch", "stage", f"nn{k}_exact_train", f"nn{k}_exact_all", f"nn{k}_paper_train", f"nn{k}_paper_all",
            f"bnn{k}_train", f"bnn{k}_test", "ppr_train", "ppr_test", f"trust{k}", f"cont{k}",
            f"tnn{temporal_k}_train", "tr_train", "tlr_train", "seconds"]


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"
    return str(v)


def format_table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """Columns present in at least one row (all scalar keys when ``columns`` is None), one line per row."""
    if columns is None:
        columns = []
        for r in rows:
            for key, v in r.items():
                if key not in columns and not isinstance(v, (dict, list)):
                    columns.append(key)
    columns = [c for c in columns if any(c in r for r in rows)]
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(x.rjust(w) for x, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def format_run_row(run_row: dict) -> str:
    """The run-level temporal summary as "key: value" lines."""
    return "\n".join(f"{k}: {_fmt(v)}" for k, v in run_row.items()
                     if k not in ("row", "epoch") and not isinstance(v, dict))
