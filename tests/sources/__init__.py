"""Queue sources and polling, against real backends."""
