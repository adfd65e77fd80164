import pytest

from tests.train import helpers
from tests.train.helpers import write_quotes

one_torch_thread = helpers.one_torch_thread  # autouse: every test here


@pytest.fixture
def quotes(tmp_path):
    return write_quotes(tmp_path / "quotes.jsonl")
