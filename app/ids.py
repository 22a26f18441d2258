"""Prefixed ULID identifiers (``org_01H...``), as the API contract uses them.

A ULID is 48 bits of milliseconds since the epoch and 80 random bits, written as 26
characters of Crockford's base 32. Within one millisecond a process counts the random
part up (the spec's monotonic variant), so ids generated in order sort in order.

python-ulid's encoder is plain Python, a large part of preparing an event for storage;
this one lets the C base32 codec do the work, for a whole batch's ids in one call,
writing the same text (tests/test_ids.py checks it against python-ulid; figures:
docs/performance.md).
"""

import base64
import os
import threading
import time

# RFC 4648 base 32 letters -> Crockford's, position for position.
CROCKFORD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)
RANDOM_BITS = 80
_lock = threading.Lock()
_last = [0, 0]  # the last (milliseconds, random part) this process used
# A forked child counts from its own random start, not from where its parent was.
os.register_at_fork(after_in_child=lambda: _last.__setitem__(slice(None), [0, 0]))


def ulid_texts(first, count):
    """The text of ``count`` ULIDs counting up from the 128-bit value ``first``."""
    # 128 bits as 130 (two leading zero bits) make 26 five-bit groups; shifted left by 30
    # they fill 20 bytes, whose 32 characters of base 32 start with those 26 groups.
    # Every id's 20 bytes go through the codec at once.
    blocks = b"".join(((first + i) << 30).to_bytes(20, "big") for i in range(count))
    text = base64.b32encode(blocks).translate(CROCKFORD).decode()
    return [text[offset : offset + 26] for offset in range(0, 32 * count, 32)]


def new_ids(prefix, count):
    """``count`` fresh identifiers, in increasing order."""
    milliseconds = time.time_ns() // 1_000_000
    with _lock:
        if milliseconds <= _last[0]:
            milliseconds, start = _last[0], _last[1] + 1
        else:
            # A random start with room to count up within the millisecond.
            start = int.from_bytes(os.urandom(10), "big") >> 1
        if start + count > 1 << RANDOM_BITS:  # the counter would overflow: next millisecond
            milliseconds += 1
            start = int.from_bytes(os.urandom(10), "big") >> 1
        _last[:] = [milliseconds, start + count - 1]
    first = (milliseconds << RANDOM_BITS) | start
    return [f"{prefix}_{text}" for text in ulid_texts(first, count)]


def new_id(prefix):
    """Return a fresh identifier: the prefix, an underscore and a ULID."""
    return new_ids(prefix, 1)[0]
