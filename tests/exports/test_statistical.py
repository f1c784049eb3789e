"""SPSS and Stata writers: the table pyreadstat needs is packed compactly, and every kind of column
survives the trip (read back with pyreadstat)."""

import random
import struct
import tracemalloc
from datetime import datetime

import pyreadstat
import pytest

from exports import dataset as ds
from exports.exporters.statistical import DtaExporter, SavExporter

EXPORTERS = {"sav": (SavExporter, pyreadstat.read_sav), "dta": (DtaExporter, pyreadstat.read_dta)}
COUNTRIES = {f"C{n}": f"Country {n}" for n in range(249)}  # more codes than an Int8 holds


def variables() -> list[ds.Variable]:
    """The shape of the 2017 questionnaire's main table: 23 choices, 12 flags, 7 numbers."""
    out = [ds.Variable("row_id", "Row id", ds.ID)]
    out += [
        ds.Variable(f"choice{i}", f"Choice {i}", ds.CHOICE, value_labels={"a": "A", "b": "B", "c": "C"})
        for i in range(22)
    ]
    out.append(ds.Variable("country", "Country", ds.CHOICE, value_labels=dict(COUNTRIES)))
    out += [
        ds.Variable(f"flag{i}", f"Flag {i}", ds.FLAG, value_labels=dict(ds.FLAG_LABELS)) for i in range(12)
    ]
    out += [ds.Variable(f"int{i}", f"Integer {i}", ds.INTEGER) for i in range(5)]
    out += [ds.Variable(f"dec{i}", f"Decimal {i}", ds.DECIMAL) for i in range(2)]
    return out


def table(count: int, *, seed: int = 1) -> ds.Dataset:
    def rows():
        rng = random.Random(seed)
        for n in range(1, count + 1):
            row = [n]
            row += [None if rng.random() < 0.1 else rng.choice("abc") for _ in range(22)]
            row.append(rng.choice(list(COUNTRIES)))
            row += [None if rng.random() < 0.3 else rng.randrange(2) for _ in range(12)]
            row += [None if rng.random() < 0.1 else rng.randrange(10**6) for _ in range(5)]
            row += [rng.random() * 100 for _ in range(2)]
            yield row

    return ds.Dataset(name="t", title="T", variables=variables(), count=count, rows=rows, language="en")


def peak_bytes_while_writing(exporter, dataset, path) -> int:
    tracemalloc.start()
    try:
        exporter.write(dataset, path, lambda n: None)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_memory_per_response_is_what_the_packed_columns_need(fmt, tmp_path):
    """pyreadstat needs the whole table; it must cost ~150 bytes a response (43 columns), not the
    ~1,000 that float64 columns copied into a DataFrame cost. Measured as the slope between two sizes,
    so fixed costs (one chunk of rows, the writer) cancel out."""
    exporter = EXPORTERS[fmt][0]()
    small = peak_bytes_while_writing(exporter, table(2_000), tmp_path / f"small.{fmt}")
    large = peak_bytes_while_writing(exporter, table(12_000), tmp_path / f"large.{fmt}")
    per_response = (large - small) / 10_000
    assert per_response < 250, per_response


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_every_kind_of_column_reads_back(fmt, tmp_path):
    exporter_class, reader = EXPORTERS[fmt]
    dataset = table(300, seed=7)
    long_text = "word " * 700 + "end"  # past Stata's 2,045-byte str limit: written as a strL
    dataset.variables.append(ds.Variable("text", "Free text", ds.TEXT))
    texts = [None, "short", long_text, "Ünïcödé ✓"]
    original_rows = dataset.rows
    dataset.rows = lambda: ([*row, texts[n % 4]] for n, row in enumerate(original_rows()))
    path = tmp_path / f"t.{fmt}"
    exporter_class().write(dataset, path, lambda n: None)

    frame, meta = reader(str(path))
    names = exporter_class().names(dataset.variables)
    codes = {v.name: v.numeric_codes() for v in dataset.variables if v.kind in ds.LABELLED_KINDS}
    for n, (expected, got) in enumerate(zip(dataset.rows(), frame.itertuples(index=False), strict=True)):
        for variable, name, value, read in zip(dataset.variables, names, expected, got, strict=True):
            if variable.kind == ds.TEXT:
                assert read == (value or ""), (n, name)
            elif value is None:
                assert read != read, (n, name)  # NaN: system-missing
            elif variable.kind == ds.CHOICE:
                assert read == codes[variable.name][value], (n, name)
            else:
                assert read == pytest.approx(value), (n, name)
    assert meta.variable_value_labels["country"][249] == "Country 248"
    assert meta.variable_value_labels["flag0"] == {0: "Not chosen", 1: "Chosen"}
    assert meta.column_names_to_labels["dec1"] == "Decimal 1"


def test_the_files_say_nothing_of_when_they_were_made(tmp_path):
    """ReadStat stamps the writing time into both headers; the exporters overwrite it with a fixed one and
    leave every other header field as written (the .sav compression bias sits just before the date)."""
    for fmt, (exporter_class, reader) in EXPORTERS.items():
        path = tmp_path / f"t.{fmt}"
        before = datetime.now().astimezone()  # ReadStat writes local time
        exporter_class().write(table(50), path, lambda n: None)
        after = datetime.now().astimezone()
        head = path.read_bytes()[:4096]
        for moment in (before, after):
            for stamp in (moment.strftime("%H:%M"), moment.strftime("%d %b %y"), moment.strftime("%d %b %Y")):
                assert stamp.encode() not in head, (fmt, stamp)
        if fmt == "sav":
            assert head[92:109] == b"01 Jan 0000:00:00"
            assert struct.unpack("<d", head[84:92]) == (100.0,)  # the bias, untouched
        else:
            assert b"01 Jan 2000 00:00" in head
        frame, _meta = reader(str(path))
        assert len(frame) == 50
