import urllib.error
import urllib.request

import pytest

from utils import data


@pytest.fixture(scope="session", autouse=True)
def mnist_on_disk():
    """Make sure MNIST is in the data folder before any test copies or reads it: from
    MNIST_ROOT in CI, downloaded into data/ on a machine with internet."""
    data.mnist(train=True)
    data.mnist(train=False)


@pytest.fixture(autouse=True)
def no_smoke(monkeypatch):
    """Tests are about the full behaviour; the ones about smoke mode switch it on. No test
    publishes into assets/, even when the maintainer's switch is set in the shell."""
    monkeypatch.delenv("WORKBOOK_SMOKE", raising=False)
    monkeypatch.delenv("WORKBOOK_PUBLISH", raising=False)


@pytest.fixture
def offline(monkeypatch):
    """No network, whatever the machine: every download attempt fails as it would offline."""
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable (test)")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
