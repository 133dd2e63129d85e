"""The results of a sweep as a table: one row per run, columns from its parameters and
its summary (:class:`SweepTable`, what :func:`particles.experiments.sweep.run_sweep` and
:func:`particles.experiments.sweep.load` return; documented there)."""
from __future__ import annotations

import numpy as np


class UnknownColumn(KeyError, ValueError):
    """A column name that the sweep table does not have (bad input: the message lists
    the columns it has)."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class SweepTable:
    """The results of a sweep directory: one row per run.

    Attributes
    ----------
    sweep : Sweep
    rows : list of dict
    columns : list of str
    directory : str
    """

    def __init__(self, sweep, rows, columns, directory):
        self.sweep, self.rows, self.columns, self.directory = sweep, rows, columns, directory

    def __len__(self):
        return len(self.rows)

    def column(self, name):
        """One column as an array (float when every value is a number, else object).

        Parameters
        ----------
        name : str
            A column, or its unique suffix (see :meth:`resolve`).

        Returns
        -------
        ndarray, shape (rows,)
        """
        name = self.resolve(name)
        vals = [r.get(name) for r in self.rows]
        try:
            return np.asarray([np.nan if v is None or v == "" else v for v in vals],
                              dtype=float)
        except (TypeError, ValueError):
            return np.asarray(vals, dtype=object)

    def resolve(self, name):
        """The column called ``name``, or the one ending in ``.name`` when that is unique
        ("tau" -> "init.tau").

        Parameters
        ----------
        name : str

        Returns
        -------
        str

        Raises
        ------
        UnknownColumn
            No such column (the message lists them).
        """
        if name in self.columns:
            return name
        hits = [c for c in self.columns if c.endswith("." + name)]
        if len(hits) == 1:
            return hits[0]
        raise UnknownColumn(f"no column {name!r} in the sweep table; allowed: "
                            f"{', '.join(self.columns)}")

    def curve(self, x, y, by=None):
        """Mean and standard deviation of ``y`` over trials at each value of ``x``.

        Parameters
        ----------
        x, y : str
            Column names (or unique suffixes).
        by : str or list of str, optional
            Further columns: one curve per combination of their values. Default: every
            other swept key (the grid's, and the zip's unless ``x`` is a zip key: those
            move with ``x``), so that runs of different swept values are never averaged
            together; ``[]`` averages over everything but ``x``.

        Returns
        -------
        list of dict
            ``{"label", "x", "mean", "std", "n"}`` per curve (x sorted; failed runs and
            NaN values left out); ``n`` counts the runs behind each mean.
        """
        xs, ys = self.column(x), self.column(y)
        if by is None:  # the zip keys move together: x in zip groups by the grid only
            xname = self.resolve(x)
            swept = list(self.sweep.grid) + ([] if xname in self.sweep.zip
                                             else list(self.sweep.zip))
            by = [k for k in swept if k in self.columns and k != xname]
        elif isinstance(by, str):
            by = [by]
        names = [self.resolve(b) for b in by]
        cols = [self.column(b) for b in names]
        keys = [tuple(c[i] for c in cols) for i in range(len(self))]

        def order(key):
            return tuple((0, v, "") if isinstance(v, (int, float, np.number)) else (1, 0, str(v))
                         for v in key)

        out = []
        for g in sorted(set(keys), key=order):
            keep = np.isfinite(ys) & np.isfinite(xs)
            keep &= np.array([k == g for k in keys], dtype=bool)
            ux = np.unique(xs[keep])
            if ux.size == 0:
                continue
            mean = [float(np.mean(ys[keep & (xs == u)])) for u in ux]
            std = [float(np.std(ys[keep & (xs == u)])) for u in ux]
            n = [int(np.sum(keep & (xs == u))) for u in ux]
            label = ", ".join(f"{nm} = {v:g}" if isinstance(v, (int, float, np.number))
                              else f"{nm} = {v}" for nm, v in zip(names, g))
            out.append({"label": label or self.resolve(y), "x": ux.tolist(), "mean": mean,
                        "std": std, "n": n})
        return out

    def swept(self):
        """The swept keys that are columns of the table (grid keys, then zip keys)."""
        return [k for k in list(self.sweep.grid) + list(self.sweep.zip) if k in self.columns]

    def to_pandas(self):
        """The table as a ``pandas.DataFrame``: one row per run, one column per table
        column (the swept keys, ``point``, ``trial``, the final and best observables,
        ``status``, ``path``, ...), numbers as numbers.

        Needs pandas (``pip install 'meanfield-particles[data]'``).

        Examples
        --------
        ``table.to_pandas().groupby("init.tau")["final.risk"].agg(["mean", "std"])``
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("SweepTable.to_pandas needs pandas; install it with pip "
                              "install 'meanfield-particles[data]'") from None
        return pd.DataFrame({c: list(self.column(c)) for c in self.columns},
                            columns=list(self.columns))

    def to_xarray(self):
        """The table as an ``xarray.Dataset`` indexed by the swept keys and ``trial``:
        every numeric column becomes a variable over (grid keys..., trial); with a zip,
        its keys are coordinates along one ``zip`` dimension (the position in the zip
        lists), after the grid keys.

        Needs pandas and xarray (``pip install 'meanfield-particles[data]'``).

        Examples
        --------
        ``table.to_xarray()["final.risk"].mean("trial")``
        """
        try:
            import xarray  # noqa: F401
        except ImportError:
            raise ImportError("SweepTable.to_xarray needs xarray; install it with pip "
                              "install 'meanfield-particles[data]'") from None
        df = self.to_pandas()
        grid = [k for k in self.sweep.grid if k in self.columns]
        zipped = [k for k in self.sweep.zip if k in self.columns]
        numeric = [c for c in df.columns if c not in ("point", "trial") + tuple(grid + zipped)
                   and df[c].dtype.kind in "fiub"]
        if zipped:  # the position in the zip lists: one dimension for all zip keys
            lists = list(zip(*(self.sweep.zip[k] for k in zipped)))
            rows = list(zip(*(df[k] for k in zipped)))
            df["zip"] = [next(j for j, v in enumerate(lists)
                              if all(float(a) == float(b) if isinstance(b, (int, float))
                                     else a == b for a, b in zip(r, v))) for r in rows]
        index = grid + (["zip"] if zipped else []) + ["trial"]
        ds = df.set_index(index)[numeric].to_xarray()
        for k in zipped:  # one value per zip position: a coordinate along "zip"
            ds = ds.assign_coords({k: ("zip", list(self.sweep.zip[k]))})
        ds.attrs["sweep"] = self.sweep.name
        ds.attrs["directory"] = self.directory
        return ds

    def run(self, i):
        """The run file of row ``i``, opened (close it, e.g. with ``with``).

        Parameters
        ----------
        i : int
            Row index.

        Returns
        -------
        particles.Run
        """
        from ..io import Run

        return Run(self.rows[i]["path"])

    def failed(self):
        """Rows whose run failed (with their error)."""
        return [r for r in self.rows if r.get("status") == "failed"]
