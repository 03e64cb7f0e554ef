"""docs/protocol.md and stream/protocol.py must agree: field tables, reasons, layouts,
defaults, the worked example's bytes, and the Python examples (which are run)."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest
import zmq

from skelact.stream import protocol as P
from skelact.stream.detector import DetectorConfig
from skelact.stream.layouts import get_layout, layout_names

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _after(doc: str, marker: str) -> str:
    tag = f"<!-- {marker} -->"
    assert doc.count(tag) == 1, f"docs/protocol.md needs exactly one {tag}"
    return doc[doc.index(tag) + len(tag):]


def table(doc: str, marker: str) -> list[list[str]]:
    """Rows (cells stripped of spaces and backticks) of the markdown table after a marker."""
    lines = _after(doc, marker).lstrip("\n").splitlines()
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([c.strip().replace("`", "") for c in line.strip().strip("|").split("|")])
    assert len(rows) >= 3, f"no table after <!-- {marker} -->"
    assert all(set(c) <= set("-: ") for c in rows[1]), "second row must be the separator"
    return [r for i, r in enumerate(rows) if i != 1]


def block(doc: str, marker: str) -> str:
    """Body of the fenced code block right after a marker."""
    m = re.match(r"\s*```[a-z]*\n(.*?)\n```", _after(doc, marker), re.S)
    assert m, f"no code block after <!-- {marker} -->"
    return m.group(1)


@pytest.mark.parametrize("name", sorted(P.SCHEMAS))
def test_field_tables_match_schemas(doc, name):
    rows = table(doc, f"schema: {name}")
    assert [c.lower() for c in rows[0][:3]] == ["field", "type", "required"]
    documented = {r[0]: (r[1], r[2]) for r in rows[1:]}
    assert len(documented) == len(rows) - 1, "a field is documented twice"
    code = P.SCHEMAS[name]
    assert set(documented) - set(code) == set(), "documented but not in the code"
    assert set(code) - set(documented) == set(), "in the code but not documented"
    for f, (tname, req) in code.items():
        assert documented[f] == (tname, req), f"{name}.{f}: doc {documented[f]} != code {(tname, req)}"
    assert all(r[3] for r in rows[1:]), "every field needs a meaning"


def test_every_schema_table_is_known(doc):
    tagged = set(re.findall(r"<!-- schema: (\w+) -->", doc))
    assert tagged == set(P.SCHEMAS)


def test_reasons_table(doc):
    rows = table(doc, "reasons")
    assert [r[0] for r in rows[1:]] and {r[0] for r in rows[1:]} == set(P.REASONS)
    assert len(rows) - 1 == len(P.REASONS)


def test_end_reasons_documented(doc):
    rows = {r[0]: r for r in table(doc, "schema: event")[1:]}
    for reason in P.END_REASONS:
        assert reason in rows["reason"][3]


def test_layouts_table(doc):
    rows = table(doc, "layouts")[1:]
    assert [r[0] for r in rows] == layout_names(aliases=False)
    for name, aliases, j, order in rows:
        lay = get_layout(name)
        assert aliases == (", ".join(lay.aliases) or "—")
        assert int(j) == lay.num_joints
        assert order == ", ".join(f"{i} {n}" for i, n in enumerate(lay.joint_names))


def test_defaults_documented(doc):
    lim, det = P.Limits(), DetectorConfig()
    for text in (P.DEFAULT_IN, P.DEFAULT_OUT, f"{lim.max_message_bytes >> 20} MiB",
                 f"{lim.transport_max_bytes >> 20} MiB", f"{det.silence_timeout_s:g} s",
                 f"0 to {lim.max_persons}", "5 error", "`v`, `type: \"eos\"`"):  # fmt: skip
        assert text in doc, text
    for topic in ("event/<stream>", "scores/<stream>", "error/<stream>", "`error/`", f"`{P.STATUS_TOPIC}`"):
        assert topic in doc


def _example_frame() -> list[bytes]:
    j = np.full((1, 17, 3), np.nan, np.float32)
    j[0, 0] = (0.5, 1.5, 2.0)
    j[0, 1] = (0.25, 1.625, 2.0)
    return P.encode_pose("cam0", 42, 1.4, "coco17", j, tracks=[7])


def test_worked_example_bytes(doc):
    hdr, pl = _example_frame()
    assert block(doc, "example-header").encode("utf-8") == hdr
    assert f"({len(hdr)} bytes" in doc and f"= {len(pl)} bytes" in doc
    dump = bytearray()
    for k, line in enumerate(block(doc, "example-payload").splitlines()):
        off, _, hexes = line.partition("  ")
        assert int(off, 16) == 16 * k
        dump += bytes.fromhex(hexes)
    assert bytes(dump) == pl
    f = P.decode_frame([bytes(block(doc, "example-header"), "utf-8"), bytes(dump)], P.Limits())
    assert (f.stream, f.seq, f.t, f.tracks) == ("cam0", 42, 1.4, (7,))
    assert block(doc, "example-eos").encode() == P.encode_eos("cam0")[0]


def test_python_examples_compile(doc):
    for name in ("example-producer", "example-subscriber"):
        compile(block(doc, name), name, "exec")


def test_producer_example_runs(doc):
    code = block(doc, "example-producer")
    assert P.DEFAULT_IN in code
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.linger = 0
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    try:
        exec(compile(code.replace(P.DEFAULT_IN, f"tcp://127.0.0.1:{port}"), "producer", "exec"), {})
        got = []
        while pull.poll(2000):
            got.append(P.decode_frame(pull.recv_multipart(copy=False), P.Limits()))
            if isinstance(got[-1], P.EndOfStream):
                break
        order = P.StreamOrder()
        for m in got:
            order.accept(m)
        assert len(got) == 11 and got[-1] == P.EndOfStream("cam0")
        assert [f.seq for f in got[:-1]] == list(range(10))
        assert all(f.layout == "mediapipe33" and f.joints.shape == (1, 33, 3) for f in got[:-1])
    finally:
        pull.close()
        ctx.term()


def test_subscriber_example_runs(doc, capsys):
    code = block(doc, "example-subscriber")
    assert P.DEFAULT_OUT in code and "while True:" in code
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)  # XPUB: learn when the example has subscribed
    pub.linger = 0
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    code = code.replace(P.DEFAULT_OUT, f"tcp://127.0.0.1:{port}").replace("while True:", "for _ in range(4):")
    code = code.replace("sub.poll(3000)", "sub.poll(5000)") + "\nsub.close(linger=0)\nctx.term()\n"
    th = threading.Thread(target=exec, args=(compile(code, "subscriber", "exec"), {}), daemon=True)
    th.start()
    try:
        subs = set()
        while len(subs) < 2:
            assert pub.poll(5000), "the example never subscribed"
            subs.add(pub.recv()[1:].decode())
        assert subs == {"event/cam0", "status"}
        start = P.event_body("start", "cam0", 0, "r-1", 1, "wave", 4, 1.0, 30, 0.9, 0.0, 1.0, 0.3)
        end = P.event_body("end", "cam0", 0, "r-1", 3, "wave", 4, 2.0, 60, 0.1, 0.0, 1.0, 0.3, t_start=1.0,
                           peak_score=0.95, reason="score")  # fmt: skip
        for topic, body in (("status", {"v": 1, "type": "status"}), ("event/cam01", dict(start, stream="cam01")),
                            ("event/cam0", start), ("event/cam0", end)):  # fmt: skip
            pub.send_multipart(P.encode_pub(topic, body))
        th.join(10)
        assert not th.is_alive()
    finally:
        pub.close()
        ctx.term()
    out = capsys.readouterr().out.splitlines()
    assert out == ["start wave track 0 t 1.0 r-1", "missed 1 event(s)", "end wave track 0 t 2.0 r-1"]


def test_doc_mentions_json_rules(doc):
    for word in ("NaN", "1e999", "little-endian", "UTF-8", "prefix", "CURVE", "ZMQ_CURVE_SERVERKEY"):
        assert word in doc
    json.loads(block(doc, "example-eos"))
