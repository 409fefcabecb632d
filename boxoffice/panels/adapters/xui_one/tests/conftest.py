# The fake panel (recorded answers over httpx.MockTransport) and the adapter on it, for every
# unit test file here.
from boxoffice.panels.adapters.xui_one.tests.test_xui_one_unit import adapter, panel  # noqa: F401
