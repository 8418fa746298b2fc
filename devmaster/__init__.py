"""A single-process stand-in for a Mesos master, for development and tests."""
