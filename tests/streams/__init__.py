import pytest

pytest.register_assert_rewrite("tests.streams.sender_steps")
