"""Tests for hlsgen.artifact: round trips, determinism, and every load error naming its problem.

Hand edits that must get past the checksum are re-hashed with an independent implementation
of the canonical JSON (``conftest.canonical_sha256``), so the validator itself has to catch them.
"""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hlsgen.artifact import (
    FORMAT,
    SCHEMA_VERSION,
    ArtifactError,
    BlockKind,
    QType,
    block_grid,
    block_slices,
    digest,
    dumps,
    load,
    loads,
    network_to_json,
    save,
    validate,
)

from conftest import (
    assert_nets_equal,
    blocks_of,
    canonical_sha256,
    legal_random_network,
    make_layer,
    make_net,
    rehash,
)


def hand_net():
    """Two layers with every block kind and edge blocks.

    layer 0 ("fc0"): 5 -> 4, block (2, 3): blocks (0,0) U m=3, (0,1) D (edge, 2x2),
                     (1,0) P, (1,1) D (edge); w_frac 2, shift 2, ReLU, unsigned 8-bit out
    layer 1 ("fc1"): 4 -> 3, block (2, 2): (0,0) U m=1, (0,1) P, (1,0) P (edge row),
                     (1,1) D (edge row); 4-bit weights, w_frac 1, out frac -1, shift 2
    """
    l0 = make_layer([[3, -3, 3, 10, -20],
                     [-3, 3, 3, 5, 0],
                     [0, 0, 0, 1, 2],
                     [0, 0, 0, -7, 7]], [100, -50, 0, 7], block=(2, 3), kinds=["UD", "PD"],
                    w_bits=8, w_frac=2, output=QType(8, 0, False), relu=True, name="fc0")
    l1 = make_layer([[1, 1, 0, 0],
                     [-1, 1, 0, 0],
                     [0, 0, 5, -6]], [1, 2, 3], block=(2, 2), kinds=["UP", "PD"],
                    w_bits=4, w_frac=1, output=QType(8, -1, True), relu=False, name="fc1")
    return make_net([l0, l1], QType(8, 0, False), name="hand")


@pytest.fixture
def doc():
    """The parsed artifact document of ``hand_net`` (a fresh copy per test)."""
    return json.loads(dumps(hand_net()))


def load_error(text: str | bytes) -> str:
    with pytest.raises(ArtifactError) as info:
        loads(text, source="art.json")
    return str(info.value)


def edited(doc: dict, edit) -> str:
    """Apply ``edit`` to the ``network`` body, re-hash, and return the artifact text."""
    edit(doc["network"])
    text = rehash(doc)
    # the checksum is right, so whatever fails next is the validator's doing
    assert json.loads(text)["sha256"] == canonical_sha256(json.loads(text)["network"])
    return text


# --------------------------------------------------------------------------- the document


def test_hand_net_document_layout(doc):
    assert doc["format"] == FORMAT == "hlsgen.artifact"
    assert doc["schema_version"] == SCHEMA_VERSION == 1
    assert doc["sha256"] == canonical_sha256(doc["network"]) == digest(hand_net())
    l0, l1 = doc["network"]["layers"]
    assert l0["block_kinds"] == ["UD", "PD"]
    assert l0["unified"] == {"magnitudes": [3], "signs": ["+-+-++"]}
    assert l0["dense"] == [[10, -20, 5, 0], [1, 2, -7, 7]]     # edge blocks are 2x2
    assert l1["block_kinds"] == ["UP", "PD"]
    assert l1["unified"] == {"magnitudes": [1], "signs": ["++-+"]}
    assert l1["dense"] == [[5, -6]]                             # edge row block is 1x2
    assert doc["network"]["input"] == {"bits": 8, "features": 5, "frac": 0, "signed": False}


def test_block_grid_and_slices_edges():
    assert block_grid(5, 7, (2, 3)) == (3, 3)
    assert block_grid(4, 6, (2, 3)) == (2, 2)
    assert block_grid(1, 1, (4, 4)) == (1, 1)
    assert block_slices(2, 2, 5, 7, (2, 3)) == (slice(4, 5), slice(6, 7))
    assert block_slices(0, 1, 5, 7, (2, 3)) == (slice(0, 2), slice(3, 6))
    tiles = list(blocks_of(5, 7, (2, 3)))
    for brow, bcol, rr, cc in tiles:
        rs, cs = block_slices(brow, bcol, 5, 7, (2, 3))
        assert (rs.start, rs.stop, cs.start, cs.stop) == (rr.start, rr.stop, cc.start, cc.stop)
    assert sum(len(rr) * len(cc) for _, _, rr, cc in tiles) == 35


def test_block_kind_letters():
    assert [k.letter for k in BlockKind] == ["P", "U", "D"]
    assert [int(k) for k in BlockKind] == [0, 1, 2]
    assert BlockKind.from_letter("D") is BlockKind.DENSE


# --------------------------------------------------------------------------- round trips


SHAPES = [(1, 1), (2, 2), (3, 2), (2, 5), (4, 4), (1, 7), (8, 3)]
PROBS = [(0.5, 0.3, 0.2), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.3, 0.3, 0.4)]


@given(seed=st.integers(0, 2**32 - 1),
       sizes=st.lists(st.integers(1, 11), min_size=2, max_size=4),
       block=st.sampled_from(SHAPES),
       w_bits=st.sampled_from([2, 3, 8, 16]),
       a_bits=st.sampled_from([2, 8, 16]),
       probs=st.sampled_from(PROBS),
       signed=st.booleans())
@settings(max_examples=60, deadline=None)
def test_round_trip_random_networks(seed, sizes, block, w_bits, a_bits, probs, signed):
    net = legal_random_network(seed, sizes, block, w_bits=w_bits, a_bits=a_bits,
                               kind_probs=probs, input_signed=signed)
    text = dumps(net)
    back = loads(text)
    assert_nets_equal(net, back)
    assert dumps(back) == text                       # re-serializing gives the same bytes
    assert dumps(net) == text                        # deterministic
    assert json.loads(text)["sha256"] == canonical_sha256(json.loads(text)["network"])


@pytest.mark.parametrize("sizes, block", [([7, 5, 3], (2, 3)), ([10, 9], (4, 4)),
                                          ([3, 2], (5, 5)), ([13, 1], (1, 6))])
def test_edge_blocks_round_trip(sizes, block):
    net = legal_random_network(11, sizes, block, kind_probs=(0.2, 0.4, 0.4))
    back = loads(dumps(net))
    assert_nets_equal(net, back)
    for layer in back.layers:
        assert layer.kinds.shape == (-(-layer.out_features // block[0]),
                                     -(-layer.in_features // block[1]))


def test_all_pruned_layer_and_rows_round_trip():
    l0 = make_layer([[0, 0, 0], [0, 0, 0]], [5, -5], block=(1, 2),
                    output=QType(8, 0, False), relu=True, name="dead")
    l1 = make_layer([[0, 0], [2, -2], [0, 0]], [0, 1, 2], block=(1, 2), name="rows")
    net = make_net([l0, l1])
    text = dumps(net)
    body = json.loads(text)["network"]
    assert body["layers"][0]["block_kinds"] == ["PP", "PP"]
    assert body["layers"][0]["unified"] == {"magnitudes": [], "signs": []}
    assert body["layers"][0]["dense"] == []
    assert body["layers"][1]["block_kinds"] == ["P", "U", "P"]
    back = loads(text)
    assert_nets_equal(net, back)
    assert not back.layers[0].weight.any()


@pytest.mark.parametrize("w_bits", [2, 16])
def test_extreme_weight_widths_round_trip(w_bits):
    w_max = (1 << (w_bits - 1)) - 1
    weight = [[w_max, -w_max, 0, w_max], [-w_max, -w_max, w_max, 0]]
    bias = [(1 << 48) - 1, -(1 << 48) + 1]
    layer = make_layer(weight, bias, block=(1, 2), w_bits=w_bits, output=QType(16, 0, True))
    net = make_net([layer], QType(16, 3, True))
    back = loads(dumps(net))
    assert_nets_equal(net, back)
    assert back.layers[0].weight.tolist() == weight
    assert back.layers[0].bias.tolist() == bias


def test_save_load_file(tmp_path):
    net = hand_net()
    path = save(net, tmp_path / "sub" / "hand.json")
    assert path.read_text() == dumps(net)
    assert_nets_equal(net, load(path))
    assert [p.name for p in path.parent.iterdir()] == ["hand.json"]  # no temp file left


def test_dumps_deterministic_bytes():
    a = dumps(hand_net())
    b = dumps(hand_net())
    assert a == b
    assert a.endswith("}\n") and "\n" not in a[:-1] and " " not in a


def test_digest_ignores_nothing_in_the_network():
    base = digest(hand_net())
    renamed = dataclasses.replace(hand_net(), name="other")
    assert digest(renamed) != base
    meta = dataclasses.replace(hand_net(), meta={"source": "x"})
    assert digest(meta) != base


# --------------------------------------------------------------------------- corrupt files


@pytest.mark.parametrize("frac", [0.0, 0.01, 0.25, 0.5, 0.75, 0.99])
def test_truncated_artifact(frac):
    text = dumps(hand_net())
    cut = int((len(text) - 2) * frac)        # the last byte kept is never the final "}"
    msg = load_error(text[:cut])
    assert "art.json" in msg and "truncated or corrupt JSON" in msg


def test_truncated_file_names_path(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text(dumps(hand_net())[:200])
    with pytest.raises(ArtifactError, match=r"cut\.json: not a valid artifact \(truncated"):
        load(path)


def test_every_single_byte_flip_is_caught():
    text = dumps(hand_net()).encode()
    for i in range(len(text) - 1):             # the trailing newline is only whitespace
        bad = bytearray(text)
        bad[i] ^= 0x01
        with pytest.raises(ArtifactError):
            loads(bytes(bad))


def test_flipped_digit_in_network_is_a_checksum_mismatch():
    text = dumps(hand_net())
    i = text.index('"bias":[100,') + len('"bias":[')
    bad = text[:i] + "2" + text[i + 1:]        # 100 -> 200: still valid JSON
    msg = load_error(bad)
    assert "checksum mismatch" in msg and "art.json" in msg


def test_non_utf8_byte_is_corrupt():
    text = bytearray(dumps(hand_net()).encode())
    text[40] = 0xFF
    assert "truncated or corrupt JSON" in load_error(bytes(text))


def test_hand_edit_without_rehash_is_a_checksum_mismatch(doc):
    doc["network"]["layers"][0]["bias"][0] = 101
    assert "checksum mismatch" in load_error(json.dumps(doc))


def test_missing_sha256_is_a_checksum_mismatch(doc):
    del doc["sha256"]
    assert "checksum mismatch" in load_error(json.dumps(doc))


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_wrong_schema_version(doc, version):
    doc["schema_version"] = version
    msg = load_error(json.dumps(doc))
    assert f"schema version {version!r} is not supported" in msg and "expects 1" in msg


@pytest.mark.parametrize("version", [True, 1.0])
def test_schema_version_must_be_the_integer_1(doc, version):
    doc["schema_version"] = version
    assert "schema version" in load_error(json.dumps(doc))


@pytest.mark.parametrize("fmt", ["hlsgen.artefact", "", None])
def test_wrong_format_field(doc, fmt):
    doc["format"] = fmt
    assert "not an hlsgen artifact" in load_error(json.dumps(doc))


@pytest.mark.parametrize("text", ["[]", "42", '"hlsgen.artifact"', "{}"])
def test_not_an_artifact_document(text):
    assert "not an hlsgen artifact" in load_error(text)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ['"w_frac":2', '"bias":[100', '"bits":8'])
def test_nan_or_infinity_literal(literal, field):
    text = dumps(hand_net())
    assert field in text
    key, value = field.split(":", 1)
    bad_value = value.replace(value.lstrip("["), literal)
    bad = text.replace(field, f"{key}:{bad_value}", 1)
    assert literal in bad
    msg = load_error(bad)
    assert literal in msg and "not a number" in msg


def test_missing_file(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(ArtifactError, match=r"nope\.json: no such artifact"):
        load(path)


# --------------------------------------------------------------------------- rehashed edits


@pytest.mark.parametrize("edit, expected", [
    # missing fields
    (lambda n: n["layers"][0].pop("w_bits"), "missing field 'w_bits'"),
    (lambda n: n["layers"][1].pop("relu"), "missing field 'relu'"),
    (lambda n: n["layers"][0].pop("unified"), "missing field 'unified'"),
    (lambda n: n["layers"][0]["unified"].pop("signs"), "missing field 'signs'"),
    (lambda n: n["layers"][0]["output"].pop("frac"), "missing field 'frac'"),
    (lambda n: n["input"].pop("bits"), "missing field 'bits'"),
    (lambda n: n["input"].pop("features"), "missing field 'features'"),
    (lambda n: n.pop("layers"), "missing field 'layers'"),
    (lambda n: n.pop("name"), "missing field 'name'"),
    # magnitude out of range for w_bits (layer 1 has 4-bit weights: |w| <= 7)
    (lambda n: n["layers"][1]["unified"]["magnitudes"].__setitem__(0, 8),
     "block (0, 0) magnitude: value 8 is outside [1, 7]"),
    (lambda n: n["layers"][0]["unified"]["magnitudes"].__setitem__(0, 128),
     "magnitude: value 128 is outside [1, 127]"),
    (lambda n: n["layers"][0]["unified"]["magnitudes"].__setitem__(0, 0),
     "magnitude: value 0 is outside [1, 127]"),
    (lambda n: n["layers"][1]["dense"][0].__setitem__(1, -8),
     "block (1, 1) weight: value -8 is outside [-7, 7]"),
    # sign strings
    (lambda n: n["layers"][0]["unified"]["signs"].__setitem__(0, "+-+-+"),
     "block (0, 0) signs: expected 6 characters of '+'/'-'"),
    (lambda n: n["layers"][0]["unified"]["signs"].__setitem__(0, "+-+-+++"),
     "block (0, 0) signs: expected 6 characters"),
    (lambda n: n["layers"][0]["unified"]["signs"].__setitem__(0, "+-+-+x"),
     "signs: expected 6 characters of '+'/'-'"),
    (lambda n: n["layers"][0]["unified"]["signs"].__setitem__(0, 6),
     "signs: expected 6 characters"),
    # block-kind map of the wrong shape or letters
    (lambda n: n["layers"][0]["block_kinds"].pop(), "block_kinds: expected 2 strings of 2"),
    (lambda n: n["layers"][0]["block_kinds"].append("PP"), "block_kinds: expected 2 strings"),
    (lambda n: n["layers"][0]["block_kinds"].__setitem__(1, "PDP"),
     "block_kinds: expected 2 strings of 2 characters"),
    (lambda n: n["layers"][0]["block_kinds"].__setitem__(1, "PX"),
     "block kinds must be the letters P, U or D"),
    (lambda n: n["layers"][0]["block_kinds"].__setitem__(1, "UD"),
     "1 magnitudes and 1 sign strings for 2 unified blocks"),
    (lambda n: n["layers"][0]["dense"].pop(), "1 weight lists for 2 dense blocks"),
    (lambda n: n["layers"][0]["dense"][1].pop(), "block (1, 1) weights: expected a list of 4"),
    # bias of the wrong length / range
    (lambda n: n["layers"][0]["bias"].pop(), "bias: 3 entries for 4 outputs"),
    (lambda n: n["layers"][1]["bias"].append(0), "bias: 4 entries for 3 outputs"),
    (lambda n: n["layers"][1]["bias"].__setitem__(0, 1 << 48), "bias exceeds 48 bits"),
    (lambda n: n["layers"][1]["bias"].__setitem__(0, 1 << 49), "bias: value"),
    # floats where integers are expected
    (lambda n: n["layers"][0].__setitem__("w_bits", 8.0), "w_bits: expected int, got float"),
    (lambda n: n["layers"][0].__setitem__("in_features", 5.0), "in_features: expected int"),
    (lambda n: n["layers"][0].__setitem__("w_frac", 2.0), "w_frac: expected int, got float"),
    (lambda n: n["layers"][0]["bias"].__setitem__(1, -50.0), "expected an integer, got -50.0"),
    (lambda n: n["layers"][0]["unified"]["magnitudes"].__setitem__(0, 3.0),
     "magnitude: expected an integer, got 3.0"),
    (lambda n: n["layers"][0]["dense"][0].__setitem__(0, 10.0), "expected an integer, got 10.0"),
    (lambda n: n["layers"][0].__setitem__("block", [2.0, 3]), "block: expected two positive"),
    (lambda n: n["input"].__setitem__("bits", 8.0), "bits: expected int, got float"),
    (lambda n: n["layers"][0]["output"].__setitem__("signed", 0), "signed: expected bool"),
    (lambda n: n["layers"][0].__setitem__("w_bits", True), "w_bits: expected int, got bool"),
    # unsupported layer type
    (lambda n: n["layers"][1].__setitem__("type", "conv3d"), "unsupported layer type 'conv3d'"),
    # the requantize shift of layer 0 is 0 + 2 - frac: frac 3 makes it -1
    (lambda n: n["layers"][0]["output"].__setitem__("frac", 3), "negative requantize shift"),
    # widths and fracs out of the supported ranges
    (lambda n: n["layers"][0].__setitem__("w_bits", 17), "w_bits: value 17 is outside [1, 16]"),
    (lambda n: n["layers"][0].__setitem__("w_bits", 0), "w_bits: value 0 is outside [1, 16]"),
    (lambda n: n["input"].__setitem__("bits", 17), "input.bits: value 17 is outside [2, 16]"),
    (lambda n: n["input"].__setitem__("frac", 33), "input.frac: value 33 is outside"),
    (lambda n: n["layers"][1]["output"].__setitem__("frac", -33),
     "output.frac: value -33 is outside [-32, 32]"),
    (lambda n: n.__setitem__("layers", []), "the network has no layers"),
    (lambda n: n.__setitem__("meta", []), "network.meta: expected an object"),
])
def test_rehashed_inconsistent_artifact(doc, edit, expected):
    msg = load_error(edited(doc, edit))
    assert expected in msg
    assert msg.startswith("art.json: ")


def test_in_features_not_matching_previous_layer(doc):
    # splice in a self-consistent layer that reads 6 features while layer 0 has 4 outputs
    other = make_layer([[1, 0, 0, 0, 0, 2]], [0], block=(1, 3), name="alien")
    alien = network_to_json(make_net([other]))["layers"][0]
    msg = load_error(edited(doc, lambda n: n["layers"].__setitem__(1, alien)))
    assert "layer 1 ('alien')" in msg
    assert "in_features: 6 does not match the 4 features the previous layer produces" in msg


def test_first_layer_must_read_the_input_features(doc):
    msg = load_error(edited(doc, lambda n: n["input"].__setitem__("features", 6)))
    assert "layer 0 ('fc0').in_features: 5 does not match the 6 features" in msg


def test_unchanged_rehash_still_loads(doc):
    """Control for the rehashed cases: re-hashing an unedited document changes nothing."""
    assert_nets_equal(loads(edited(doc, lambda n: None)), hand_net())


# --------------------------------------------------------------------------- validate


def _replace_layer(net, i, **changes):
    layers = list(net.layers)
    layers[i] = dataclasses.replace(layers[i], **changes)
    return dataclasses.replace(net, layers=tuple(layers))


def test_validate_accepts_hand_net():
    validate(hand_net())


def test_validate_rejects_weights_in_pruned_block():
    net = hand_net()
    w = net.layers[0].weight.copy()
    w[3, 1] = 4                               # block (1, 0) is pruned
    bad = _replace_layer(net, 0, weight=w)
    with pytest.raises(ArtifactError, match=r"layer 0 \('fc0'\) block \(1, 0\): is marked "
                                            r"pruned but holds nonzero weights"):
        validate(bad)
    with pytest.raises(ArtifactError, match="pruned but holds nonzero"):
        dumps(bad)                            # serializing validates first


def test_validate_rejects_unequal_unified_magnitudes():
    net = hand_net()
    w = net.layers[0].weight.copy()
    w[1, 2] = 4                               # block (0, 0) is unified with magnitude 3
    with pytest.raises(ArtifactError, match=r"block \(0, 0\): is marked unified but its "
                                            r"weights do not share one nonzero magnitude"):
        validate(_replace_layer(net, 0, weight=w))


def test_validate_rejects_zero_unified_block():
    net = hand_net()
    w = net.layers[1].weight.copy()
    w[0:2, 0:2] = 0
    with pytest.raises(ArtifactError, match=r"layer 1 \('fc1'\) block \(0, 0\): is marked "
                                            "unified"):
        validate(_replace_layer(net, 1, weight=w))


@pytest.mark.parametrize("changes, match", [
    ({"kinds": np.zeros((1, 2), dtype=np.uint8)}, r"block-kind map is \(1, 2\), expected \(2, 2\)"),
    ({"bias": np.zeros(3, dtype=np.int64)}, r"bias has \(3,\) entries, expected 4"),
    ({"weight": np.zeros((4, 4), dtype=np.int64)}, r"weight shape \(4, 4\) != \(4, 5\)"),
    ({"w_bits": 4}, "a weight magnitude exceeds 7, the 4-bit limit"),
    ({"output": QType(8, 3, False)}, "negative requantize shift"),
])
def test_validate_rejects_inconsistent_layer(changes, match):
    with pytest.raises(ArtifactError, match=match):
        validate(_replace_layer(hand_net(), 0, **changes))


def test_validate_rejects_empty_network():
    with pytest.raises(ArtifactError, match="no layers"):
        validate(dataclasses.replace(hand_net(), layers=()))


def test_loads_is_independent_of_key_order(doc):
    """A writer with another key order (and whitespace) has the same canonical checksum."""
    text = json.dumps({"sha256": doc["sha256"], "network": doc["network"],
                       "schema_version": 1, "format": FORMAT}, indent=3)
    assert_nets_equal(loads(text), hand_net())


def test_copy_of_doc_fixture_is_untouched(doc):
    before = copy.deepcopy(doc)
    loads(json.dumps(doc))
    assert doc == before
