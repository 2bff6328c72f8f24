"""Training curves: rows {"step", "split", "loss", ...scalars[, "lr"]}; stable TSVs (dvc plots)."""
from __future__ import annotations

import math
import os
from typing import Any

from genvid.io import atomic_write_text

FLOAT_FORMAT = ".7g"  # fixed: the TSV bytes depend only on the values


class Window:
    """Running sums of the train scalars since the last logged row."""

    def __init__(self, count: int = 0, sums: dict[str, float] | None = None):
        self.count = count
        self.sums: dict[str, float] = dict(sums or {})

    def add(self, scalars: dict[str, float]) -> None:
        self.count += 1
        for name, value in scalars.items():
            self.sums[name] = self.sums.get(name, 0.0) + value

    def means(self) -> dict[str, float]:
        return {name: total / self.count for name, total in self.sums.items()}

    def state(self) -> dict[str, Any]:
        return {"count": self.count, "sums": dict(self.sums)}


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """step, loss, the other scalars sorted by name, lr last (when present)."""
    names = {k for row in rows for k in row} - {"step", "split", "loss", "lr"}
    lr = ["lr"] if any("lr" in row for row in rows) else []
    return ["step", "loss", *sorted(names), *lr]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return "nan" if math.isnan(value) else format(value, FLOAT_FORMAT)
    return str(value)


def curves_tsv(rows: list[dict[str, Any]]) -> str:
    """One split's rows as TSV text (header always present, missing cells empty)."""
    cols = columns(rows)
    lines = ["\t".join(cols)]
    lines += ["\t".join(_cell(row.get(c)) for c in cols) for row in rows]
    return "\n".join(lines) + "\n"


def write_curves_tsv(rows: list[dict[str, Any]], train_path: str | os.PathLike,
                     val_path: str | os.PathLike | None = None) -> None:
    """Write the train rows to ``train_path`` and the val rows to ``val_path`` (atomic)."""
    atomic_write_text(train_path, curves_tsv([r for r in rows if r["split"] == "train"]))
    if val_path is not None:
        atomic_write_text(val_path, curves_tsv([r for r in rows if r["split"] == "val"]))
