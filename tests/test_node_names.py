"""Node names (issue 23.7): one title pattern, the type ids saved workflows use, honest search aliases."""
from __future__ import annotations

import importlib

# the type ids saved workflows refer to: never renamed
TYPE_IDS = {"ToonTalkerLoadCheckpoint", "ToonTalkerEncodeSource", "ToonTalkerEncodeDrivingMotion",
            "ToonTalkerCanonicalTransfer", "ToonTalkerDecodeToDomain", "ToonTalkerWarpRender", "ToonTalkerReenact",
            "ToonTalkerFaceCrop", "ToonTalkerPasteBack", "ToonTalkerMotionEditor", "ToonTalkerMotionKeyframes",
            "ToonTalkerSaveMotion", "ToonTalkerLoadMotion"}


def test_titles_follow_one_pattern(pack):
    titles = pack.NODE_DISPLAY_NAME_MAPPINGS
    assert set(titles) == TYPE_IDS == set(pack.NODE_CLASS_MAPPINGS)
    assert all(t.startswith("ToonTalker ") and "(" not in t for t in titles.values()), titles
    assert len(set(titles.values())) == len(titles)
    assert titles["ToonTalkerLoadCheckpoint"] == "ToonTalker Load Checkpoint"
    assert titles["ToonTalkerReenact"] == "ToonTalker Reenact"


def test_search_aliases(pack):
    nodes = importlib.import_module(pack.__name__ + ".nodes")
    aliases = nodes.SEARCH_ALIASES
    assert set(aliases) == TYPE_IDS
    assert "toontalker model" in aliases["ToonTalkerLoadCheckpoint"]
    assert "load model" in aliases["ToonTalkerLoadCheckpoint"]
    for type_id, words in aliases.items():
        title = pack.NODE_DISPLAY_NAME_MAPPINGS[type_id].lower()
        # an alias adds words the title lacks, and no node promises lip sync from audio (it has no audio input)
        assert all(a == a.lower() and a not in title and "lip" not in a for a in words), (type_id, words)
