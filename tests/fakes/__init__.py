"""Local fakes of the payment channels, for tests."""
