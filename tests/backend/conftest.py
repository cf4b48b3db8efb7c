"""Fixtures shared by the backend tests."""
import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small models on a shared 2-core machine train faster on one torch thread (and two
    test processes do not fight over the cores); a module opts in with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
