import matplotlib

matplotlib.use("Agg")  # tests never open windows


import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _lrkit_home(tmp_path_factory):
    """The default policy database (``$LRKIT_HOME/lrkit.db``) of every test lives in a temp folder,
    never in the user's ~/.lrkit; tests never record into a database named by the environment."""
    mp = pytest.MonkeyPatch()
    mp.setenv("LRKIT_HOME", str(tmp_path_factory.mktemp("lrkit_home")))
    mp.delenv("LRKIT_DB_URL", raising=False)
    yield
    mp.undo()
