"""Hippo: a queue-driven task runner for Apache Mesos."""
