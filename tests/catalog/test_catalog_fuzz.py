"""A catalog can never crash the loader: hostile and mutated files give a CatalogError with a
file and a line, within bounded time and memory, quoting at most a short excerpt."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsr.catalog.loader import example_catalog_path, load_catalog
from dsr.errors import CatalogError

EXAMPLE = example_catalog_path().read_text(encoding="utf-8")
LINES = EXAMPLE.splitlines()
WHERE = re.compile(r":(\d+)(:|$)")


def _load(path: Path, data: bytes) -> CatalogError | None:
    path.write_bytes(data)
    try:
        load_catalog(path)
    except CatalogError as exc:
        return exc
    return None


def _assert_located(exc: CatalogError | None, path: Path) -> None:
    if exc is None:
        return
    text = str(exc)
    assert text.startswith(str(path)), text
    m = WHERE.search(text[len(str(path)) :])
    assert m and int(m.group(1)) >= 1, text
    assert len(text) < 700, text


@pytest.mark.parametrize(
    ("doc", "line", "says"),
    [
        ("controller: x\ntimezone: !!int abc\n", 2, "cannot be read as int"),
        ("controller: x\ntimezone: !!float nope\n", 2, "cannot be read as float"),
        ("controller: x\ntimezone: !!timestamp soon\n", 2, "cannot be read as timestamp"),
        ("controller: x\ntimezone: !!python/object:os.system x\n", 2, "cannot be read"),
        ("controller: x\ntimezone: !custom x\n", 2, "cannot be read"),
        ("controller: x\n? [a, b]\n: 1\n", 2, "a key must be a plain name"),
        ("controller: x\ndpo: ok\x07\n", 2, "#x0007 is not allowed"),
        ("controller: x\ndpo: " + "[" * 200 + "\n", 3, "malformed YAML"),
        ("a: 1\nb: [" + "[" * 80 + "]" * 81 + "\n", 2, "nested deeper"),
    ],
)
def test_hostile_values_are_located_errors(tmp_path: Path, doc: str, line: int, says: str) -> None:
    path = tmp_path / "c.yaml"
    exc = _load(path, doc.encode())
    assert exc is not None
    assert f"{path}:{line}" in str(exc) and says in str(exc), str(exc)


def test_a_file_that_is_not_utf8_names_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    exc = _load(path, b"controller: x\ndpo: ok\nsupervisory_authority: \xff\xfe\n")
    assert exc is not None and f"{path}:3" in str(exc) and "not UTF-8" in str(exc)


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    lines[0] = 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'
    path = tmp_path / "bomb.yaml"
    started = time.monotonic()
    exc = _load(path, ("\n".join(lines) + "\n").encode())
    assert time.monotonic() - started < 10
    assert exc is not None and "expands to more than" in str(exc)
    _assert_located(exc, path)


def test_a_long_value_is_quoted_only_as_an_excerpt(tmp_path: Path) -> None:
    doc = EXAMPLE.replace("timezone: Europe/Berlin", "timezone: " + "Z" * 5000)
    assert doc != EXAMPLE
    path = tmp_path / "c.yaml"
    exc = _load(path, doc.encode())
    assert exc is not None and "unknown time zone" in str(exc)
    assert "Z" * 100 not in str(exc)


_TOKENS = st.sampled_from(
    [
        "",
        "~",
        "null",
        "!!int abc",
        "!!binary x",
        "*nope",
        "&a x",
        "[",
        "]",
        "{",
        "}",
        "- x",
        "::",
        "? x",
        "\t",
        "\x00",
        "\x1b",
        "'",
        '"',
        "%YAML 9",
        "!!str",
        "1e999",
        "-1",
        "0x1F",
        "yes",
        "2026-13-45",
        "[]",
        "{}",
        "'" + "x" * 300 + "'",
        "&x [*x]",
        "\\u0000",
    ]
)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["drop", "dup", "token", "value", "indent", "cut"]))
        if how == "drop":
            del lines[i]
        elif how == "dup":
            lines.insert(i, lines[i])
        elif how == "token":
            col = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:col] + draw(_TOKENS) + lines[i][col:]
        elif how == "value" and ":" in lines[i]:
            lines[i] = lines[i].split(":", 1)[0] + ": " + draw(_TOKENS)
        elif how == "indent":
            lines[i] = " " * draw(st.integers(0, 7)) + lines[i].lstrip()
        elif how == "cut":
            lines = lines[: i + 1]
        if not lines:
            lines = [""]
    data = "\n".join(lines).encode()
    if draw(st.booleans()) and draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    return data


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=_mutated())
def test_mutated_catalogs_load_or_fail_with_a_located_catalog_error(
    tmp_path: Path, data: bytes
) -> None:
    path = tmp_path / "mutant.yaml"
    _assert_located(_load(path, data), path)
