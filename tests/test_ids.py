"""Identifiers: ULIDs as python-ulid writes them, unique and in order."""

import re

from ulid import ULID

from app.ids import RANDOM_BITS, new_id, new_ids, ulid_texts


def ulid_text(milliseconds, randomness):
    return ulid_texts((milliseconds << RANDOM_BITS) | randomness, 1)[0]


def test_the_text_is_python_ulids():
    for _ in range(2000):
        expected = ULID()
        raw = bytes(expected)
        assert ulid_text(int.from_bytes(raw[:6], "big"), int.from_bytes(raw[6:], "big")) == str(
            expected
        )


def test_the_extremes():
    assert ulid_text(0, 0) == "0" * 26
    assert ulid_text((1 << 48) - 1, (1 << 80) - 1) == "7" + "Z" * 25


def test_ids_are_prefixed_ulids_unique_and_increasing():
    ids = [new_id("evt") for _ in range(500)] + new_ids("evt", 5000) + [new_id("evt")]
    assert all(re.fullmatch(r"evt_[0-9A-HJKMNP-TV-Z]{26}", value) for value in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert ULID.from_str(ids[0][4:]).milliseconds > 0


def test_a_batch_counts_up_within_its_millisecond():
    ids = new_ids("evt", 300)
    parsed = [ULID.from_str(value[4:]) for value in ids]
    milliseconds = parsed[0].milliseconds
    first = int.from_bytes(bytes(parsed[0])[6:], "big")
    assert all(ulid.milliseconds == milliseconds for ulid in parsed)
    assert ids == [f"evt_{ulid_text(milliseconds, first + i)}" for i in range(300)]
