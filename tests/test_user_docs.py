"""User docs (README.md, docs/*.md): the README's producer runs, its bundled-models table lists every
bundled model with true sizes, the repository paths it names exist in a clone, and no page speaks of
how the work was organised instead of the product."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import zmq

from skelact.stream import protocol as P

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
MODELS = REPO / "stream" / "assets" / "models"


def _producer() -> str:
    m = re.search(r"<!-- readme-producer -->\n```python\n(.*?)```", README, re.S)
    assert m, "README lost its producer example"
    return m.group(1)


def test_producer_example_runs():
    code = _producer()
    assert P.DEFAULT_IN in code and "range(300)" in code
    assert len(code.strip().splitlines()) <= 25  # a short recipe, the long one is docs/protocol.md
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.linger = 0
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    try:
        code = code.replace(P.DEFAULT_IN, f"tcp://127.0.0.1:{port}").replace("range(300)", "range(5)")
        exec(compile(code, "README producer", "exec"), {})
        got = []
        while pull.poll(2000):
            got.append(P.decode_frame(pull.recv_multipart(copy=False), P.Limits()))
            if isinstance(got[-1], P.EndOfStream):
                break
        order = P.StreamOrder()
        for m in got:
            order.accept(m)  # seq grows, t never goes back
        assert got[-1] == P.EndOfStream("cam0") and [f.seq for f in got[:-1]] == list(range(5))
        assert all(f.layout == "mediapipe33" and f.joints.shape == (1, 33, 3) for f in got[:-1])
    finally:
        pull.close()
        ctx.term()


def _models_table() -> list[str]:
    section = README.split("## Bundled models", 1)[1].split("\n## ", 1)[0]
    return [ln for ln in section.splitlines() if ln.startswith("| `")]


@pytest.mark.parametrize("onnx", sorted(MODELS.glob("*.onnx")), ids=lambda p: p.name)
def test_every_bundled_model_has_a_row_with_its_size(onnx):
    name = onnx.stem.rsplit("_", 1)[0]
    rows = [r for r in _models_table() if r.startswith(f"| `{name}`")]
    assert len(rows) == 1, f"README's bundled models table needs one row for {name!r}"
    m = re.search(rf"`{re.escape(onnx.name)}` (\d+) KiB", rows[0])
    assert m, f"the {name!r} row does not give the size of {onnx.name}"
    assert int(m.group(1)) == pytest.approx(onnx.stat().st_size / 1024, rel=0.05)


def test_repository_paths_in_commands_exist():
    paths = set(re.findall(r"\b((?:stream|scripts|examples|docs)/[\w./-]+)", README))
    assert "stream/assets/precog" in paths and "scripts/make_default_model.sh" in paths
    for p in paths:
        path = p.split(":", 1)[0].rstrip(".")  # stream/assets/precog:Seq3_11 -> the folder
        assert (REPO / path).exists(), f"README names {path}, which a clone does not have"


# How the work was organised is no business of a user's page: papers go by their titles,
# hardware by what it is. (A random-number `--seed 0` and ONNX Runtime sessions are fine.)
JARGON = [r"\bseeds? ?0\d\d\b", r"\bseed paper", r"\bthe seed's\b", r"\bthis task\b", r"\bwas lent\b",
          r"\bnone was lent\b", r"\bsession \d", r"\bthis session\b", r"\bin both sessions\b", r"/work/"]


@pytest.mark.parametrize("page", [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))], ids=lambda p: p.name)
def test_user_docs_speak_of_the_product(page):
    text = page.read_text(encoding="utf-8")
    found = [m.group(0) for pat in JARGON for m in re.finditer(pat, text, re.I)]
    assert not found, f"{page.name}: {found}"
