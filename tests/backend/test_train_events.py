"""Training events as JSON lines: what ``write_event`` writes, ``EventsTail`` reads
back as the same events, a line at a time, skipping what it does not know."""

from __future__ import annotations

import json

from layerloom.backend.training.events import (
    CheckpointSaved,
    Confusion,
    EventsTail,
    Failed,
    Finished,
    NodeStats,
    Note,
    Started,
    Stats,
    Step,
    event_from_json,
    write_event,
)

EVENTS = [
    Started(3, 9, 3, "cpu", 10, 90, 30, 32, notes=("a",), processes=2),
    Step(1, 1, 0.5, 1e-3, 120.0, steps=2),
    Confusion(1, ((3, 1), (0, 4)), ("0", "1")),
    Stats(1, 3, (NodeStats("dense_1", (1.0, 2.0), (0.0, 0.5, 1.0), 1.5, None),)),
    CheckpointSaved("run/checkpoint", 1, 3),
    Note(2, "torch.compile is not available for this model here; training without it"),
    Finished("completed", {"loss": 0.25}, 1.5, 1, 3),
]


def test_events_written_as_json_lines_read_back_equal(tmp_path):
    path = tmp_path / "events.jsonl"
    tail = EventsTail(path)
    assert tail.read() == [], "no file yet"
    with open(path, "w", encoding="utf-8") as handle:
        for event in EVENTS:
            write_event(handle, event)
        assert tail.read() == EVENTS, "each line is flushed as it is written"
        assert tail.read() == []
        write_event(handle, Failed("out of memory", 2, 7))
        assert tail.read() == [Failed("out of memory", 2, 7)]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["kind"] for line in lines] == [
        "started", "step", "confusion", "stats", "checkpoint", "note", "finished", "failed"]


def test_a_line_being_written_waits_and_unknown_lines_are_skipped(tmp_path):
    path = tmp_path / "events.jsonl"
    tail = EventsTail(path)
    whole = json.dumps({"kind": "paused", "step": 4})
    path.write_text('{"kind": "warp", "speed": 9}\nnot json\n' + whole[:10], encoding="utf-8")
    assert tail.read() == []
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(whole[10:] + "\n")
    (event,) = tail.read()
    assert (event.kind, event.step) == ("paused", 4)


def test_event_from_json_refuses_what_is_not_a_whole_event():
    assert event_from_json({"kind": "unknown"}) is None
    assert event_from_json({"kind": "step"}) is None, "fields missing"
    assert event_from_json(["step"]) is None
    assert event_from_json({"kind": "resumed", "step": 5, "lr": 0.1, "later": True}).lr == 0.1
