"""Makes the ``fake_wechatpay`` fixture available to the tests in this directory."""

from tests.fakes.wechatpay import fake_wechatpay  # noqa: F401  (a fixture, used by name)
