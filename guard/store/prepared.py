"""Hot-path statements compiled once per dialect and run on the driver's cursor inside a
SQLAlchemy transaction, with the column types' own bind and result conversions (database I/O; the
SQL is SQLAlchemy's, so it is the same statement the Core would send, without its per-call
overhead)."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.expression import Executable

Convert = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # bind parameter names, in the statement's order
    positional: bool  # the driver takes a sequence (qmark) rather than a mapping (pyformat)
    binds: tuple[tuple[str, Convert, Any], ...]  # name, conversion, the statement's own value
    columns: tuple[str, ...]
    results: tuple[Convert, ...]
    row: type[tuple[Any, ...]]  # a named tuple of the columns (attribute access, like a Row)


class Prepared:
    """One statement; `run` returns its rows as dicts (selects) or its row count (writes)."""

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            names = tuple(compiled.positiontup or compiled.binds)
            binds = tuple(
                (
                    name,
                    compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect),
                    compiled.binds[name].value,
                )
                for name in dict.fromkeys(names)
            )
            selected: Sequence[Any] = getattr(self.statement, "selected_columns", ())
            columns = tuple(column.key for column in selected)
            found = _Compiled(
                sql=compiled.string,
                names=names,
                positional=compiled.positiontup is not None,
                binds=binds,
                columns=columns,
                results=tuple(
                    column.type.dialect_impl(dialect).result_processor(dialect, None)
                    for column in selected
                ),
                row=namedtuple("PreparedRow", columns) if columns else tuple,
            )
            self._compiled[dialect.name] = found
        return found

    def run(self, conn: Connection, params: Mapping[str, Any]) -> list[Any] | int:
        """Rows (named tuples) of a select, else the row count; `params` by bind name (a bind
        the statement gave a value keeps it unless `params` names it)."""
        compiled = self._for(conn.dialect)
        values = {}
        for name, convert, own in compiled.binds:
            value = params.get(name, own)
            values[name] = convert(value) if convert is not None else value
        bound: Sequence[Any] | Mapping[str, Any] = (
            [values[name] for name in compiled.names] if compiled.positional else values
        )
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(compiled.sql, bound)
            if not compiled.columns:
                return int(cursor.rowcount)
            make, results = compiled.row, compiled.results
            return [
                make(
                    *(
                        convert(value) if convert is not None else value
                        for convert, value in zip(results, row, strict=True)
                    )
                )
                for row in cursor.fetchall()
            ]
        finally:
            cursor.close()

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        found = self.run(conn, params)
        assert isinstance(found, list), "rows() of a statement that selects nothing"
        return found

    def count(self, conn: Connection, params: Mapping[str, Any]) -> int:
        found = self.run(conn, params)
        assert isinstance(found, int), "count() of a select"
        return found
