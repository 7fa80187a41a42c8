"""Fixtures for every backend test."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models train fastest on one torch thread, and the suite shares two
    cores (also when ``OMP_NUM_THREADS`` asks for more)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
