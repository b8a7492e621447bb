"""Parquet files, read in record batches (pyarrow) so memory stays flat whatever the file size."""

from __future__ import annotations

from collections.abc import Iterator

from apps.items.importing.errors import FileRejected
from apps.items.importing.readers import RawRow, SourceReader


class ParquetReader(SourceReader):
    format = "parquet"
    batch_rows = 2048

    def prepare(self) -> None:
        import pyarrow.parquet as pq

        self.encoding = "binary"
        self.fileobj.seek(0)
        try:
            self.parquet = pq.ParquetFile(self.fileobj)
        except Exception as exc:  # pyarrow raises several unrelated types for damaged files
            raise FileRejected(f"The Parquet file cannot be read: {exc}.") from None
        self.schema = self.parquet.schema_arrow
        self.columns = list(self.schema.names)
        self.total = self.parquet.metadata.num_rows
        if self.total == 0:
            raise FileRejected("The Parquet file has no rows.")
        self.done = 0

    def column_type(self, name: str) -> str:
        return str(self.schema.field(name).type)

    def is_nested(self, name: str) -> bool:
        import pyarrow as pa

        return pa.types.is_nested(self.schema.field(name).type)

    def is_list(self, name: str) -> bool:
        import pyarrow as pa

        kind = self.schema.field(name).type
        return pa.types.is_list(kind) or pa.types.is_large_list(kind)

    def progress(self) -> float:
        return min(self.done / max(self.total, 1), 1.0)

    def rows(self, skip: int = 0) -> Iterator[RawRow]:
        number = 0
        try:
            for batch in self.parquet.iter_batches(batch_size=self.batch_rows):
                if number + batch.num_rows <= skip:
                    number += batch.num_rows
                    self.done = number
                    continue
                for data in batch.to_pylist():
                    number += 1
                    self.done = number
                    if number <= skip:
                        continue
                    yield RawRow(number, data)
        except OSError as exc:
            raise FileRejected(f"The Parquet file is damaged after row {number}: {exc}.") from None
