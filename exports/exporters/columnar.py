"""Parquet with an explicit schema: labels and value labels in each field's metadata, batches of rows."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from exports import dataset as ds
from exports.dataset import Dataset, Progress
from exports.exporters.base import Exporter, counting

BATCH = 10_000
TYPES = {
    ds.ID: pa.int64(),
    ds.FLAG: pa.int8(),
    ds.CATEGORY: pa.int8(),
    ds.INTEGER: pa.int64(),
    ds.DECIMAL: pa.float64(),
}


def schema(dataset: Dataset) -> pa.Schema:
    fields = []
    for v in dataset.variables:
        metadata = {"label": v.label, "kind": v.kind, "item": v.item_code, "item_type": v.item_type}
        if v.value_labels:
            metadata["value_labels"] = json.dumps(v.value_labels, ensure_ascii=False)
        fields.append(
            pa.field(v.name, TYPES.get(v.kind, pa.string()), nullable=v.kind != ds.ID, metadata=metadata)
        )
    return pa.schema(fields, metadata={"title": dataset.title, "language": dataset.language})


class ParquetExporter(Exporter):
    identifier = "parquet"
    verbose_name = "Parquet"
    extension = "parquet"
    media_type = "application/vnd.apache.parquet"

    def write(self, dataset: Dataset, path: Path, progress: Progress) -> None:
        table_schema = schema(dataset)
        width = len(dataset.variables)
        with pq.ParquetWriter(str(path), table_schema, compression="zstd") as writer:
            columns: list[list[object]] = [[] for _ in range(width)]
            filled = 0
            for row in counting(dataset.rows(), progress):
                for i in range(width):
                    columns[i].append(row[i])
                filled += 1
                if filled == BATCH:
                    writer.write_batch(_batch(columns, table_schema))
                    columns = [[] for _ in range(width)]
                    filled = 0
            if filled or not dataset.count:
                writer.write_batch(_batch(columns, table_schema))


def _batch(columns: list[list[object]], table_schema: pa.Schema) -> pa.RecordBatch:
    arrays = [pa.array(values, type=field.type) for values, field in zip(columns, table_schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=table_schema)
