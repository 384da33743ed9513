"""The topic catalogue (nodes/names.py) and the table generated from it in docs/ARCHITECTURE.md."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest

from uav_flood.nodes import names

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location(
        'gen_topic_table', ROOT / 'tools/gen_topic_table.py'
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _entries():
    return {
        const: value
        for const, value in vars(names).items()
        if isinstance(value, names.Topic | names.Service)
    }


def test_the_architecture_topic_table_is_generated_from_the_catalogue():
    tool = _tool()
    text = (ROOT / 'docs/ARCHITECTURE.md').read_text(encoding='utf-8')
    assert tool.render(text, names.catalogue_markdown()) == text, (
        'docs/ARCHITECTURE.md is stale: run python3 tools/gen_topic_table.py'
    )


def test_the_table_lists_every_topic_and_service_once():
    table = names.catalogue_markdown()
    rows = table.splitlines()[2:]
    entries = _entries()
    assert len(rows) == len(entries) >= 40
    for value in entries.values():
        shown = value.name if value.name.startswith('/') else f'/uavN/{value.name}'
        assert f'| `{shown}` | {value.type} |' in table


def test_every_entry_has_an_importable_type_a_flow_and_a_description():
    comments = names._doc_comments()
    for const, value in _entries().items():
        assert value.flow, const
        assert const in comments, f'{const} has no #: comment in names.py'
        package, kind, type_name = value.type.split('/')
        assert kind in ('msg', 'srv'), const
        if package == 'tf2_msgs':
            continue  # not among the PyPI wheels; the recorder writes it by schema
        module = importlib.import_module(f'{package}.{kind}')
        assert hasattr(module, type_name), value.type


def test_the_generator_refuses_a_document_without_its_markers(tmp_path):
    tool = _tool()
    with pytest.raises(ValueError, match='markers'):
        tool.render('# no table here\n', '| a |\n')
    doc = tmp_path / 'ARCHITECTURE.md'
    doc.write_text(f'before\n{tool.BEGIN}\nold table\n{tool.END}\nafter\n')
    assert tool.main(['--check', '--doc', str(doc)]) == 1
    assert tool.main(['--doc', str(doc)]) == 0
    written = doc.read_text()
    assert written.startswith('before\n') and written.endswith(f'{tool.END}\nafter\n')
    assert 'old table' not in written and '`/flood_map`' in written
    assert tool.main(['--check', '--doc', str(doc)]) == 0
    assert tool.main(['--doc', str(tmp_path / 'missing.md')]) == 2


def test_the_architecture_names_every_package():
    text = (ROOT / 'docs/ARCHITECTURE.md').read_text(encoding='utf-8')
    layers = text[text.index('## Layers') : text.index('## Interface contract')]
    packages = sorted(
        path.name
        for path in (ROOT / 'src' / 'uav_flood').iterdir()
        if path.is_dir() and not path.name.startswith(('_', '.'))
    )
    assert 'core' in packages and 'runner' in packages
    missing = [name for name in packages if f'`{name}/`' not in layers]
    assert not missing, f'docs/ARCHITECTURE.md "Layers" does not name {missing}'
