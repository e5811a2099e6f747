"""Helpers shared by the test suites: simulators, real recordings, fakes, fixtures."""
